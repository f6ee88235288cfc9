"""``zixly``: run the system locally, submit sweeps, and backtest without any service.

zixly demo                 start the embedded stack, run the example sweep, print the leaderboard, stop
zixly up                   run the embedded stack in the foreground until Ctrl-C
zixly sweep submit FILE    sign a sweep request with the configured secret and post it to ingest
zixly sweep status ID      show a sweep's progress from the dashboard API
zixly backtest …           one backtest on a data file (no services needed)
zixly sweep run …          a whole sweep on a data file, locally (no services needed)
zixly topics create        create every topic with its partition count on the broker
zixly dlq list|show|redrive   list, inspect and re-drive dead letters
zixly replay --schema NAME    rebuild the read models from the topics into a fresh schema
zixly asyncapi [DIR]          write the AsyncAPI documents of the FastStream apps
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx

from zixly.addresses import BROKER, DASHBOARD, DATABASE, INGEST, Address, Chosen, choose
from zixly.processes import ProcessGroup
from zixly.stack import WEBHOOK_SOURCE, StackConfig, running_stack, webhook_secret
from zixly.stack_env import ConfigurationError
from zixly.stack_file import stack_file, stack_home
from zixly_backtester.entrypoints.cli_options import EXIT_READER_GONE
from zixly_contracts.ids import SWEEP_ID_PATTERN


def _local_commands(argv: list[str]) -> bool:
    return bool(argv) and (argv[0] in ("backtest", "strategies") or argv[:2] == ["sweep", "run"])


def cmd_demo(_: argparse.Namespace) -> int:
    from zixly.demo import run_demo

    config = StackConfig.from_env(ephemeral_ports=True)
    print(f"starting the embedded stack under {config.home} (logs in {config.home / 'logs'})")
    with running_stack(config) as stack:
        print(f"ready: ingest {stack.ingest_url}, dashboard {stack.dashboard_url}")
        return run_demo(stack)


class StopRequested(Exception):
    """Ctrl-C or SIGTERM: leave the foreground stack, stopping everything it started."""


def _request_stop(signum: int, frame: object) -> None:
    raise StopRequested(signal.Signals(signum).name)


#: A service that crashes more often than this within a minute is not restarted again.
MAX_RESTARTS_PER_MINUTE = 5


def supervise(processes: ProcessGroup, embedded_pgdata: Path | None) -> str:
    """Restart services that exit, as an orchestrator would; return why the stack must stop: the broker
    or the embedded database gone (the services cannot do without either), or a service that keeps
    exiting."""
    from zixly.abandoned_postgres import running_server_pid

    restarts: dict[str, list[float]] = {}
    while True:
        time.sleep(1.0)
        if embedded_pgdata is not None and running_server_pid(embedded_pgdata) is None:
            return f"the embedded database under {embedded_pgdata} stopped; `make up` starts it again"
        for child in list(processes.children):
            if child.alive():
                continue
            if child.name == "kafka":
                return f"the broker exited with {child.process.returncode}:\n{child.tail()}"
            recent = [t for t in restarts.get(child.name, []) if time.monotonic() - t < 60]
            if len(recent) >= MAX_RESTARTS_PER_MINUTE:
                return f"{child.name} keeps exiting ({child.process.returncode}):\n{child.tail()}"
            print(f"{child.name} exited with {child.process.returncode}; restarting it")
            restarts[child.name] = [*recent, time.monotonic()]
            processes.restart(child)


def cmd_up(_: argparse.Namespace) -> int:
    config = StackConfig.from_env(ephemeral_ports=False)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _request_stop)
    try:
        with running_stack(config) as stack:
            print(f"ingest     {stack.ingest_url}   (webhooks: POST /webhooks/{stack.webhook_source})")
            print(f"dashboard  {stack.dashboard_url}")
            print(f"kafka      {stack.bootstrap_servers}")
            print(f"database   {stack.database_url}")
            print(f"logs       {config.home / 'logs'}")
            print(f"addresses  {stack_file(config.home)}   (read by zixly sweep/dlq/replay/topics)")
            print(
                "post a sweep with: zixly sweep submit examples/demo-sweep.json   (Ctrl-C stops everything)"
            )
            reason = supervise(stack.processes, None if config.database_url else config.home / "pgdata")
            print(f"stopping: {reason}")
            return 1
    except StopRequested as signal_name:
        print(f"stopping ({signal_name})")
        return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from zixly.webhooks import submit

    ingest = choose(INGEST, args.url)
    # Accept the webhook URL `zixly up` prints as well as the ingest base URL.
    url = ingest.value.split("/webhooks/")[0]
    try:
        secret = webhook_secret(stack_home(), create=False)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        response = submit(args.file, url=url, source=args.source, secret=secret, webhook_id=args.webhook_id)
    except json.JSONDecodeError as exc:
        print(f"error: {args.file} is not JSON: {_where(exc)}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: cannot reach ingest at {ingest.value} ({ingest.origin}): {exc}", file=sys.stderr)
        return 1
    print(response.text)
    return 0 if response.status_code == 202 else 1


def _where(exc: json.JSONDecodeError) -> str:
    return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"


def cmd_status(args: argparse.Namespace) -> int:
    from zixly.demo import leaderboard

    if not re.fullmatch(SWEEP_ID_PATTERN, args.sweep_id):
        print(
            f"error: {args.sweep_id!r} is not a sweep id (1-128 of A-Z a-z 0-9 _ . : -), as "
            "`zixly sweep submit` prints it",
            file=sys.stderr,
        )
        return 2
    dashboard = choose(DASHBOARD, args.dashboard)
    try:
        response = httpx.get(f"{dashboard.value}/api/sweeps/{args.sweep_id}", timeout=5.0)
        answer = response.json()
    except httpx.HTTPError as exc:
        print(
            f"error: cannot reach the dashboard at {dashboard.value} ({dashboard.origin}): {exc}",
            file=sys.stderr,
        )
        return 1
    except json.JSONDecodeError:
        print(f"error: {dashboard.value} answered {response.status_code} without JSON", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    if response.status_code == 200 and answer["status"] == "completed":
        print(leaderboard(dashboard.value, args.sweep_id))
    return 0 if response.status_code == 200 else 1


def _broker(given: str | None) -> Chosen:
    """The broker to use, said on stderr with where that choice came from.

    The Kafka client's own log lines are kept out of the way: a failure is said once, by the command.
    """
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    broker = choose(BROKER, given)
    print(f"broker {broker.value} ({broker.origin})", file=sys.stderr)
    return broker


def _unreachable(broker: Chosen, exc: Exception) -> int:
    from aiokafka.errors import KafkaConnectionError

    why = "no broker answers there" if isinstance(exc, KafkaConnectionError) else str(exc)
    print(f"error: cannot reach the broker at {broker.value} ({broker.origin}): {why}", file=sys.stderr)
    return 1


def cmd_topics(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from zixly.infrastructure import create_topics

    broker = _broker(args.bootstrap)
    try:
        asyncio.run(create_topics(broker.value, timeout_s=10.0))
    except KafkaError as exc:
        return _unreachable(broker, exc)
    return 0


def _dlq_topics(args: argparse.Namespace) -> list[str] | None:
    if not args.topic:
        return None
    return [args.topic if args.topic.endswith(".dlq") else f"{args.topic}.dlq"]


def _dlq_list(args: argparse.Namespace, bootstrap: str) -> int:
    from zixly import dlq

    letters = asyncio.run(dlq.list_dead_letters(bootstrap, _dlq_topics(args)))
    if args.json:
        print(json.dumps([d.summary() for d in letters], indent=2))
    else:
        print(dlq.render_table(letters))
    return 0


def _dlq_show(args: argparse.Namespace, bootstrap: str) -> int:
    from zixly import dlq

    topic, _, _ = dlq.parse_ref(args.ref)
    found = [d for d in asyncio.run(dlq.list_dead_letters(bootstrap, [topic])) if d.ref == args.ref]
    if not found:
        print(f"no dead letter {args.ref}", file=sys.stderr)
        return 1
    print(dlq.render_letter(found[0]))
    return 0


def _dlq_redrive(args: argparse.Namespace, bootstrap: str) -> int:
    from zixly import dlq

    try:
        done = asyncio.run(dlq.redrive(bootstrap, None if args.all else args.refs, _dlq_topics(args)))
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    for ref in done:
        print(f"re-driven {ref}")
    print(f"{len(done)} dead letter(s) re-driven")
    return 0


DLQ_ACTIONS = {"list": _dlq_list, "show": _dlq_show, "redrive": _dlq_redrive}


def _refs_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the dead-letter refs given, checked before any broker is asked."""
    from zixly import dlq

    refs = {"show": [getattr(args, "ref", "")], "redrive": getattr(args, "refs", [])}
    try:
        for ref in refs.get(args.dlq_command, []):
            dlq.parse_ref(ref)
    except ValueError as exc:
        return f"error: {exc}"
    if args.dlq_command == "redrive" and not args.refs and not args.all:
        return "name dead letters to re-drive (see `zixly dlq list`) or pass --all"
    return None


def cmd_dlq(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    if problem := _refs_problem(args):
        print(problem, file=sys.stderr)
        return 2
    broker = _broker(args.bootstrap)
    try:
        return DLQ_ACTIONS[args.dlq_command](args, broker.value)
    except KafkaError as exc:
        return _unreachable(broker, exc)


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "<unparseable database URL>"


def cmd_replay(args: argparse.Namespace) -> int:
    import dataclasses

    from aiokafka.errors import KafkaError

    from zixly.broker import check_reachable
    from zixly_aggregator.bootstrap import replay
    from zixly_aggregator.config import Settings

    broker = _broker(args.bootstrap)
    database = choose(DATABASE, args.database_url)
    print(f"replaying into {_shown_url(database.value)} ({database.origin})", file=sys.stderr)
    try:
        asyncio.run(check_reachable(broker.value))
    except KafkaError as exc:
        return _unreachable(broker, exc)
    settings = Settings(kafka_bootstrap_servers=broker.value, database_url=database.value)
    try:
        report = asyncio.run(replay(settings, args.schema, replace=args.replace))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps({"schema": args.schema, **dataclasses.asdict(report)}, indent=2))
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    from zixly.asyncapi import write

    for path in write(args.directory):
        print(path)
    return 0


def _address_help(address: Address) -> str:
    return f"default: {address.variable}, else the running local stack's (ZIXLY_HOME/stack.json)"


BROKER_HELP = _address_help(BROKER)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="zixly", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = root.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the example sweep on the embedded stack").set_defaults(func=cmd_demo)
    sub.add_parser("up", help="run the embedded stack until Ctrl-C").set_defaults(func=cmd_up)
    topics = sub.add_parser("topics", help="create every topic")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--bootstrap", default=None, help=BROKER_HELP)
    topics.set_defaults(func=cmd_topics)
    sweep = sub.add_parser("sweep", help="submit or inspect sweeps (`sweep run` runs one locally)")
    sweep_sub = sweep.add_subparsers(dest="sweep_command", required=True)
    submit = sweep_sub.add_parser("submit", help="sign a sweep request file and post it to ingest")
    submit.add_argument("file", type=Path)
    submit.add_argument("--url", default=None, help=_address_help(INGEST))
    submit.add_argument("--source", default=WEBHOOK_SOURCE)
    submit.add_argument("--webhook-id", default=None, help="reuse an id to retry a delivery")
    submit.set_defaults(func=cmd_submit)
    status = sweep_sub.add_parser("status", help="show a sweep's progress")
    status.add_argument("sweep_id")
    status.add_argument("--dashboard", default=None, help=_address_help(DASHBOARD))
    status.set_defaults(func=cmd_status)
    dead = sub.add_parser("dlq", help="list, inspect and re-drive dead letters")
    dead.add_argument("--bootstrap", default=None, help=BROKER_HELP)
    dead_sub = dead.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dead_sub.add_parser("list", help="every dead letter: where from, why, how often tried")
    dlq_list.add_argument("--topic", default=None, help="one topic (e.g. backtests.tasks), default all")
    dlq_list.add_argument("--json", action="store_true")
    dlq_show = dead_sub.add_parser("show", help="one dead letter with its headers and body")
    dlq_show.add_argument("ref", help="<dlq topic>:<partition>:<offset>, as `zixly dlq list` prints it")
    dlq_show.set_defaults(topic=None)
    dlq_redrive = dead_sub.add_parser("redrive", help="publish dead letters back onto their original topic")
    dlq_redrive.add_argument("refs", nargs="*", help="<dlq topic>:<partition>:<offset> …")
    dlq_redrive.add_argument("--all", action="store_true", help="every dead letter not re-driven yet")
    dlq_redrive.add_argument("--topic", default=None, help="with --all: one topic only")
    dead.set_defaults(func=cmd_dlq)
    rebuild = sub.add_parser("replay", help="rebuild the read models from the topics into a fresh schema")
    rebuild.add_argument("--schema", required=True, help="PostgreSQL schema to build, e.g. replay_20260102")
    rebuild.add_argument("--replace", action="store_true", help="drop the schema first if it exists")
    rebuild.add_argument("--bootstrap", default=None, help=BROKER_HELP)
    rebuild.add_argument("--database-url", default=None, help=_address_help(DATABASE))
    rebuild.set_defaults(func=cmd_replay)
    asyncapi = sub.add_parser("asyncapi", help="write the AsyncAPI documents of the FastStream apps")
    asyncapi.add_argument("directory", type=Path, nargs="?", default=Path("docs/asyncapi"))
    asyncapi.set_defaults(func=cmd_asyncapi)
    sweep_sub.add_parser("run", help="run a sweep locally on a data file (see `zixly sweep run --help`)")
    sub.add_parser("backtest", help="one backtest on a data file (see `zixly backtest --help`)")
    sub.add_parser("strategies", help="the strategy library with parameters and valid ranges")
    return root


def _run(argv: list[str]) -> int:
    if _local_commands(argv):
        from zixly_backtester.entrypoints.cli import main as backtest_main

        return backtest_main(argv, prog="zixly")
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigurationError as exc:  # a ZIXLY_* variable the stack cannot run with
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError) as exc:  # e.g. the local stack could not start: say why
        print(f"error: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        code = _run(argv)
        sys.stdout.flush()  # inside the try: a reader gone shows up here for buffered output
        return code
    except BrokenPipeError:
        # The reader went away (`zixly … | head`): stop quietly, as Unix tools do. Output still
        # buffered would fail again when Python flushes stdout at exit, so it goes nowhere instead.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_READER_GONE


if __name__ == "__main__":
    sys.exit(main())
