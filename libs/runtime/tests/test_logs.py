import json
import logging

import structlog

from zixly_runtime.logs import configure_logging


def test_logs_are_json_lines_with_the_service_and_bound_context(capsys):
    configure_logging("INFO", service="backtester")
    with structlog.contextvars.bound_contextvars(correlation_id="msg_1"):
        structlog.get_logger("zixly.test").info("task finished", task_id="t1")
        logging.getLogger("stdlib").warning("from the standard library")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["event"] == "task finished"
    assert lines[0]["service"] == "backtester"
    assert lines[0]["correlation_id"] == "msg_1"
    assert lines[0]["task_id"] == "t1"
    assert lines[0]["level"] == "info"
    assert lines[1]["event"] == "from the standard library"
    assert lines[1]["level"] == "warning"
    assert lines[1]["service"] == "backtester"
