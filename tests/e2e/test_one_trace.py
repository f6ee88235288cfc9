"""One webhook is one trace: from the HTTP request at ingest, through Kafka headers, to the projected results.

The three services are built by their own composition roots in this process (so one in-memory span
exporter sees every span) and talk over the real Kafka protocol (Tansu) and a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from zixly.pipeline import sweep_state
from zixly.webhooks import signed_headers, sweep_payload
from zixly_aggregator.bootstrap import build as build_aggregator
from zixly_aggregator.config import Settings as AggregatorSettings
from zixly_backtester.bootstrap import build as build_backtester
from zixly_backtester.config import Settings as BacktesterSettings
from zixly_contracts import ids
from zixly_ingest.bootstrap import build as build_ingest
from zixly_ingest.config import Settings as IngestSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DATA = Path(__file__).resolve().parents[2] / "data"
SECRET = "whsec_" + base64.b64encode(b"trace-test-secret-32-bytes-long!").decode()
SPEC = {
    "name": "traced",
    "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
    "strategies": [{"name": "sma_cross", "grid": {"fast": [10, 20], "slow": [50, 100]}}],
    "execution": {"fill": "close"},
    "batch_size": 2,
}


def span_exporter() -> InMemorySpanExporter:
    """Every span of this process from now on, whether or not a tracer provider was installed before."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def run(kafka_bootstrap: str, database_url: str, objects: Path) -> tuple[str, CollectorRegistry]:
    ingest = build_ingest(
        IngestSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            database_url=database_url,
            webhook_secrets={"cli": [SECRET]},
        )
    )
    backtester_metrics = CollectorRegistry()
    backtester = build_backtester(
        BacktesterSettings(kafka_bootstrap_servers=kafka_bootstrap, object_store_url=objects.as_uri()),
        registry=backtester_metrics,
    )
    aggregator = build_aggregator(
        AggregatorSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url)
    )
    async with (
        ingest.router.lifespan_context(ingest),
        backtester.start_lifespan_context(),
        aggregator.start_lifespan_context(),
    ):
        deadline = time.monotonic() + 60
        while not all(r.joined() for r in [*backtester.runtimes, *aggregator.runtimes]):
            assert time.monotonic() < deadline, "the consumers did not join their groups"
            await asyncio.sleep(0.1)
        body = sweep_payload(SPEC)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=ingest), base_url="http://ingest"
        ) as http:
            response = await http.post(
                "/webhooks/cli",
                content=body.encode(),
                headers=signed_headers(SECRET, body, webhook_id="msg_traced"),
            )
            assert response.status_code == 202, response.text
        sweep_id = response.json()["sweep_id"]
        deadline = time.monotonic() + 120
        while (state := await sweep_state(database_url, sweep_id)) is None or state.status != "completed":
            assert time.monotonic() < deadline, f"the sweep did not complete: {state}"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the aggregator reads its own SweepCompleted back
    return sweep_id, backtester_metrics


def test_one_webhook_is_one_trace_through_kafka(kafka_bootstrap, database_url, tmp_path, capsys):
    (tmp_path / "datasets").mkdir()
    shutil.copy(DATA / "GOOG_1d.csv", tmp_path / "datasets" / "GOOG_1d.csv")
    exporter = span_exporter()
    sweep_id, metrics = asyncio.run(run(kafka_bootstrap, database_url, tmp_path))
    assert sweep_id == ids.sweep_id("cli", "msg_traced")
    spans = exporter.get_finished_spans()

    # The webhook's request is the root of it all.
    requests = [
        s for s in spans if s.kind == trace.SpanKind.SERVER and "/webhooks/" in s.name and s.parent is None
    ]
    assert len(requests) == 1
    trace_id = requests[0].context.trace_id
    processed = Counter(s.name for s in spans if s.name.endswith(" process"))
    # The planner and the aggregator read the request; the workers the 3 tasks; the aggregator the
    # plan, the 3 results and its own SweepCompleted.
    assert processed["sweeps.requested process"] == 2
    assert processed["backtests.tasks process"] == 3
    assert processed["backtests.results process"] == 3
    assert processed["sweeps.lifecycle process"] == 2
    pipeline = [s for s in spans if s.name.endswith((" process", " publish"))]
    assert {s.context.trace_id for s in pipeline} == {trace_id}
    # Parent links, not only a shared id: each consumer span has a parent in the same trace.
    by_id = {s.context.span_id: s for s in spans}
    for span in pipeline:
        assert span.parent is not None
        assert span.parent.trace_id == trace_id
    assert any(s.parent and s.parent.span_id in by_id for s in pipeline if s.name.endswith(" process"))
    assert metrics.get_sample_value("zixly_backtests_total") == 5
    assert metrics.get_sample_value("zixly_backtester_tasks_total", {"outcome": "completed"}) == 3


def test_log_lines_carry_the_trace_and_correlation_ids(capsys):
    from zixly_runtime.logs import configure_logging

    configure_logging("INFO", service="test")
    span_exporter()  # an SDK tracer provider, so that spans have ids
    tracer = trace.get_tracer("test")
    with (
        tracer.start_as_current_span("work") as span,
        structlog.contextvars.bound_contextvars(correlation_id="msg_1"),
    ):
        structlog.get_logger("t").info("inside")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["correlation_id"] == "msg_1"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
