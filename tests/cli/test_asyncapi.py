"""The AsyncAPI documents of the FastStream apps build, and show what each app consumes and publishes."""

from __future__ import annotations

import json
from pathlib import Path

from zixly.asyncapi import documents
from zixly.cli import main


def test_each_app_documents_its_channels_and_messages():
    docs = documents()
    assert set(docs) == {"backtester", "aggregator"}
    backtester, aggregator = docs["backtester"], docs["aggregator"]
    assert backtester["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in backtester["channels"].values()}
    consumed = {"sweeps.requested", "sweeps.requested.retry", "backtests.tasks", "backtests.tasks.retry"}
    assert consumed <= addresses
    assert {"backtests.results", "backtests.tasks.dlq", "sweeps.lifecycle"} <= addresses
    schemas = backtester["components"]["schemas"]
    assert any("RunBacktestBatch" in name for name in schemas)
    assert any("BacktestBatchCompleted" in name for name in schemas)
    aggregator_addresses = {c["address"] for c in aggregator["channels"].values()}
    assert {"backtests.results", "backtests.results.dlq", "sweeps.lifecycle"} <= aggregator_addresses
    assert any("SweepCompleted" in name for name in aggregator["components"]["schemas"])


def test_the_command_writes_them(tmp_path: Path, capsys):
    assert main(["asyncapi", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["aggregator.json", "backtester.json"]
    assert json.loads((tmp_path / "backtester.json").read_text())["info"]["title"] == "zixly-backtester"
