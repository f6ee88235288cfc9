"""A bad sweep spec fails with one error per mistake, located by the sender's own fields and indexes."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError

from zixly_contracts.sweep_spec import GRID_VALUE_ERROR, Range, SweepSpec, one_error_for_the_union

FINITE = "Input should be a finite number"
OPERAND = "Input should be a parameter name (letters, digits, '_', '.', '-') or a finite number"
FAST = ("strategies", 0, "grid", "fast")


def spec(strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
        "strategies": [{"name": "sma_cross", **strategy}],
    }


def errors_of(document: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    with pytest.raises(ValidationError) as caught:
        SweepSpec.model_validate(document)
    return [(e["loc"], e["type"], e["msg"]) for e in caught.value.errors()]


@pytest.mark.parametrize(
    ("fast", "expected"),
    [
        ("abc", [(FAST, "grid_value", GRID_VALUE_ERROR)]),
        (None, [(FAST, "grid_value", GRID_VALUE_ERROR)]),
        ({"start": 1, "step": 1}, [((*FAST, "stop"), "missing", "Field required")]),
        ({"start": "a", "stop": 2, "step": 1}, [((*FAST, "start"), "number_type", FINITE)]),
        (
            {"start": 1, "stop": 2, "step": 0},
            [((*FAST, "step"), "greater_than", "Input should be greater than 0")],
        ),
        (
            {"start": 5, "stop": 1, "step": 1},
            [(FAST, "value_error", "Value error, range stop 1 is below its start 5")],
        ),
        (
            {"start": 1, "stop": 2, "step": 1, "end": 3},
            [((*FAST, "end"), "extra_forbidden", "Extra inputs are not permitted")],
        ),
        ([1, "x", 3], [((*FAST, 1), "number_type", FINITE)]),
        # A string or a boolean is not a number, whatever it spells: nothing is converted.
        ("5", [(FAST, "grid_value", GRID_VALUE_ERROR)]),
        ("5.5", [(FAST, "grid_value", GRID_VALUE_ERROR)]),
        (True, [(FAST, "grid_value", GRID_VALUE_ERROR)]),
        ([True, 20], [((*FAST, 0), "number_type", FINITE)]),
        ([1, "2", 2.5], [((*FAST, 1), "number_type", FINITE)]),
        (
            {"start": True, "stop": 5, "step": True},
            [((*FAST, "start"), "number_type", FINITE), ((*FAST, "step"), "number_type", FINITE)],
        ),
        ({"start": "1", "stop": 3, "step": 0.5}, [((*FAST, "start"), "number_type", FINITE)]),
        ([], [(FAST, "too_short", "List should have at least 1 item after validation, not 0")]),
        (float("inf"), [(FAST, "number_type", FINITE)]),
    ],
)
def test_a_bad_grid_value_is_one_error_at_the_senders_own_path(fast, expected):
    assert errors_of(spec({"grid": {"fast": fast}})) == expected


@pytest.mark.parametrize("right", ["not a name", None, [1], float("nan"), "-1", True])
def test_a_bad_constraint_operand_is_one_error(right):
    constraint = {"left": "fast", "op": "<", "right": right}
    loc = ("strategies", 0, "constraints", 0, "right")
    assert errors_of(spec({"constraints": [constraint]})) == [(loc, "constraint_operand", OPERAND)]


def test_each_mistake_of_a_spec_is_reported_once():
    document = spec({"grid": {"fast": {"start": 1}, "slow": [10, None]}, "sample": {"n": 0}})
    document["execution"] = {"fill": "later"}
    assert errors_of(document) == [
        ((*FAST, "stop"), "missing", "Field required"),
        ((*FAST, "step"), "missing", "Field required"),
        (("strategies", 0, "grid", "slow", 1), "number_type", FINITE),
        (("strategies", 0, "sample", "n"), "greater_than", "Input should be greater than 0"),
        (("execution", "fill"), "literal_error", "Input should be 'next_open' or 'close'"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (2.5, 2.5),
        ([1, 2, 2.5], [1, 2, 2.5]),
        ((1, 2), [1, 2]),
        ({"start": 1, "stop": 3, "step": 0.5}, Range(start=1, stop=3, step=0.5)),
    ],
)
def test_valid_grid_values_keep_their_values_and_types(value, expected):
    validated = SweepSpec.model_validate(spec({"grid": {"fast": value}})).strategies[0].grid["fast"]
    assert validated == expected
    assert type(validated) is type(expected)
    if isinstance(expected, list):
        assert [type(v) for v in validated] == [type(v) for v in expected]


@pytest.mark.parametrize(("right", "expected"), [("slow", "slow"), ("5", "5"), (-1, -1), (2.5, 2.5)])
def test_valid_constraint_operands_keep_their_values(right, expected):
    constraint = {"left": "fast", "op": "<", "right": right}
    validated = SweepSpec.model_validate(spec({"constraints": [constraint]})).strategies[0].constraints[0]
    assert validated.right == expected
    assert type(validated.right) is type(expected)


def test_one_error_for_the_union_refuses_what_is_not_a_union():
    with pytest.raises(TypeError, match="applies to a union"):

        class NotAUnion(BaseModel):
            value: Annotated[int, one_error_for_the_union("x", "y")]
