"""The results insert's parameters: the params key is json.dumps' canonical text, rows are records."""

from __future__ import annotations

import json
import math

import pytest

from zixly_aggregator.adapters.postgres import RESULT_ROW_COLUMNS, params_key, result_rows
from zixly_aggregator.adapters.tables import results
from zixly_contracts.events import BacktestBatchCompleted, BacktestResult
from zixly_contracts.metrics import METRIC_NAMES, Metrics


@pytest.mark.parametrize(
    "params",
    [
        {"slow": 20, "fast": 10},
        {"fast": 2.5, "slow": 50},
        {"b": 1e-05, "a": 1e300, "c": -0.0, "d": 123456789012345678901234567890},
        {"größe": 3, 'é\n"x': 0.1 + 0.2},
        {"up": math.inf, "down": -math.inf, "nan": math.nan},
        {},
    ],
)
def test_the_params_key_is_json_dumps_with_sorted_keys_and_no_spaces(params):
    assert params_key(params) == json.dumps(params, sort_keys=True, separators=(",", ":"))


def test_each_row_is_a_record_of_the_results_table_with_its_key_and_metrics():
    assert RESULT_ROW_COLUMNS == tuple(results.c.keys())
    metrics = Metrics(total_return=1.5, sharpe=None, closed_trades=3, final_equity=25_000.0)
    event = BacktestBatchCompleted(
        task_id="t",
        sweep_id="s",
        dataset="GOOG_1d",
        strategy="sma_cross",
        batch_index=0,
        results=[BacktestResult(params={"slow": 20, "fast": 10}, metrics=metrics)],
        artifact_uri="file:///r.parquet",
        definitions={},
        bars=10,
        duration_ms=1.0,
    )
    sweep_id, dataset, strategy, task_id, records = result_rows(event)
    assert (sweep_id, dataset, strategy, task_id) == ("s", "GOOG_1d", "sma_cross", "t")
    [record] = records
    row = dict(zip(RESULT_ROW_COLUMNS, record, strict=True))
    # What every row of the task shares is sent once, beside the records.
    assert [row[c] for c in ("sweep_id", "dataset", "strategy", "params", "task_id")] == [None] * 5
    assert row["params_key"] == '{"fast":10,"slow":20}'
    assert {name: row[name] for name in METRIC_NAMES} == metrics.model_dump()
