"""Numbers in a sweep spec are numbers: a boolean or a string is refused, never converted; and what the
planner cannot run (too much cash, too big a grid) is refused when the spec is validated."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from zixly_contracts.envelope import decode
from zixly_contracts.events import SweepRequested
from zixly_contracts.sweep_spec import (
    GRID_VALUE_ERROR,
    MAX_CASH,
    RECORDED,
    SweepSpec,
)

FINITE = "Input should be a finite number"
NUMBER = ("float_type", "Input should be a valid number")
INTEGER = ("int_type", "Input should be a valid integer")


def base_spec() -> dict[str, Any]:
    return {
        "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
        "strategies": [{"name": "sma_cross", "grid": {"fast": 5}}],
    }


def errors_of(document: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """The errors of the document validated from Python and from JSON, which must be the same."""
    found = []
    for validate in (SweepSpec.model_validate, lambda d: SweepSpec.model_validate_json(json.dumps(d))):
        with pytest.raises(ValidationError) as caught:
            validate(document)
        found.append([(e["loc"], e["type"], e["msg"]) for e in caught.value.errors()])
    assert found[0] == found[1]
    return found[0]


def test_the_reported_document_is_one_error_per_field_that_is_not_a_number():
    document = {
        "datasets": [{"symbol": "GOOG_1d", "periods_per_year": "252"}],
        "strategies": [{"name": "sma_cross", "grid": {"fast": "5", "slow": [True, 20]}}],
        "execution": {"cash": True},
    }
    assert errors_of(document) == [
        (("datasets", 0, "periods_per_year"), *NUMBER),
        (("strategies", 0, "grid", "fast"), "grid_value", GRID_VALUE_ERROR),
        (("strategies", 0, "grid", "slow", 0), "number_type", FINITE),
        (("execution", "cash"), *NUMBER),
    ]


def test_a_range_of_booleans_is_refused():
    document = base_spec()
    document["strategies"][0]["grid"] = {"fast": {"start": True, "stop": 5, "step": True}}
    assert errors_of(document) == [
        (("strategies", 0, "grid", "fast", "start"), "number_type", FINITE),
        (("strategies", 0, "grid", "fast", "step"), "number_type", FINITE),
    ]


NUMERIC_FIELDS = [
    (("datasets", 0, "periods_per_year"), NUMBER),
    *[
        (("execution", name), NUMBER)
        for name in (
            "cash",
            "fee_bps",
            "fixed_fee",
            "slippage_bps",
            "stop_loss_pct",
            "take_profit_pct",
            "risk_free_rate",
        )
    ],
    (("strategies", 0, "sample", "n"), INTEGER),
    (("strategies", 0, "sample", "seed"), INTEGER),
    (("batch_size",), INTEGER),
]


def put(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    target: Any = document
    for step in path[:-1]:
        if isinstance(target, dict):
            target = target.setdefault(step, {"n": 1} if step == "sample" else {})
        else:
            target = target[step]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize("value", [True, False, "1", "0.5"])
@pytest.mark.parametrize(("path", "error"), NUMERIC_FIELDS)
def test_every_numeric_field_refuses_booleans_and_strings(path, error, value):
    assert errors_of(put(base_spec(), path, value)) == [(path, *error)]


@pytest.mark.parametrize(("path", "_"), [(p, e) for p, e in NUMERIC_FIELDS if e == NUMBER])
def test_an_integer_is_a_float_where_a_float_belongs(path, _):
    validated = SweepSpec.model_validate(put(base_spec(), path, 1)).model_dump()
    for step in path:
        validated = validated[step]
    assert validated == 1.0
    assert type(validated) is float


def test_a_float_is_not_an_integer_where_an_integer_belongs():
    assert errors_of({**base_spec(), "batch_size": 10.0}) == [(("batch_size",), *INTEGER)]


def test_cash_over_the_bound_is_refused_with_the_engines_reason():
    assert errors_of({**base_spec(), "execution": {"cash": 1e308}}) == [
        (("execution", "cash"), "less_than_equal", "cash must be positive and at most 1e+15")
    ]
    assert SweepSpec.model_validate({**base_spec(), "execution": {"cash": MAX_CASH}}).execution.cash == 1e15


def with_grid(grid: dict[str, Any], **strategy: Any) -> dict[str, Any]:
    return {**base_spec(), "strategies": [{"name": "macd", "grid": grid, **strategy}]}


def test_a_grid_over_the_planners_cap_is_refused_even_when_sampled():
    grid = {"fast": {"start": 1, "stop": 4000, "step": 1}, "slow": {"start": 1, "stop": 5001, "step": 1}}
    assert errors_of(with_grid(grid, sample={"n": 50})) == [
        (
            ("strategies", 0, "grid"),
            "grid_too_large",
            "the grid of macd has 20004000 combinations before constraints; the limit is 20000000",
        )
    ]
    grid["slow"]["stop"] = 5000
    assert SweepSpec.model_validate(with_grid(grid, sample={"n": 50})).strategies[0].sample.n == 50


def test_repeated_list_values_count_once_as_the_planner_counts_them():
    grid = {"fast": {"start": 1, "stop": 4000, "step": 1}, "slow": [*range(1, 5001), 5000, 1.0]}
    SweepSpec.model_validate(with_grid(grid))


def test_a_range_over_the_planners_cap_is_refused_where_it_is():
    grid = {
        "fast": {"start": 1, "stop": 100_000, "step": 1},
        "slow": {"start": 0, "stop": 100_000, "step": 1},
    }
    assert errors_of(with_grid(grid)) == [
        (
            ("strategies", 0, "grid", "slow"),
            "range_too_long",
            "range 0:100000:1 has more than 100000 values",
        )
    ]


def test_a_range_too_wide_to_count_is_refused():
    grid = {
        "fast": {"start": 0, "stop": 10**400, "step": 1},
        "slow": {"start": 0, "stop": 1e308, "step": 1e-300},
    }
    assert [(loc, kind) for loc, kind, _ in errors_of(with_grid(grid))] == [
        (("strategies", 0, "grid", "fast"), "range_too_long"),
        (("strategies", 0, "grid", "slow"), "range_too_long"),
    ]


def sweep_requested_event(spec: dict[str, Any]) -> bytes:
    """A ``sweep.requested`` event as the log holds it: its spec as written when it was accepted."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": "e1",
            "source": "/zixly/ingest",
            "type": "com.zixly.sweep.requested",
            "time": "2026-01-02T00:00:00Z",
            "subject": "s1",
            "datacontenttype": "application/json",
            "schema_version": 1,
            "correlation_id": "w1",
            "causation_id": None,
            "data": {"sweep_id": "s1", "source": "cli", "webhook_id": "w1", "spec": spec},
        }
    ).encode()


def test_a_recorded_event_with_integers_where_floats_belong_decodes():
    """The log holds the numbers ingest wrote (``252`` for a float field, say): strict types take them."""
    spec = {
        "name": "",
        "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
        "strategies": [
            {
                "name": "sma_cross",
                "grid": {"fast": 5, "slow": [1, 20], "signal": {"start": 1, "stop": 5, "step": 1}},
                "constraints": [{"left": "fast", "op": "<", "right": -1}],
                "sample": {"n": 5, "seed": 1},
            }
        ],
        "execution": {"cash": 1, "fee_bps": 0, "stop_loss_pct": None},
        "batch_size": 10,
    }
    event = decode(sweep_requested_event(spec))
    assert event.data.spec.execution.cash == 1.0
    assert event.data.spec.strategies[0].grid["slow"] == [1, 20]
    assert (
        SweepRequested.model_validate(json.loads(sweep_requested_event(spec))["data"]).spec == event.data.spec
    )


def test_an_event_accepted_before_the_limits_existed_still_decodes():
    """Its sweep fails when the backtester plans it, as it did; the log stays readable."""
    grid = {"fast": {"start": 1, "stop": 5000, "step": 1}, "slow": {"start": 1, "stop": 5000, "step": 1}}
    spec = {**with_grid(grid), "execution": {"cash": 1e308}}
    event = decode(sweep_requested_event(spec))
    assert event.data.spec.execution.cash == 1e308
    assert SweepSpec.model_validate(spec, context=RECORDED) == event.data.spec
    with pytest.raises(ValidationError):
        SweepSpec.model_validate(spec)


def test_specs_built_in_python_keep_tuples():
    spec = SweepSpec.model_validate(
        {
            "datasets": ({"symbol": "GOOG_1d", "periods_per_year": 252.0},),
            "strategies": ({"name": "sma_cross", "grid": {"fast": (5, 10)}},),
        }
    )
    assert spec.strategies[0].grid["fast"] == [5, 10]
