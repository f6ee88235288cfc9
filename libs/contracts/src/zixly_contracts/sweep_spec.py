"""The shape of a sweep request: datasets × strategies × parameter grids, and how trades execute.

Parameter grids and constraints are data, never code: a constraint names a parameter, a comparison from
a fixed list and another parameter or a number; no string a client sends is ever evaluated.

Numbers are strict: a boolean or a string is refused where a number belongs (``true`` is not 1, ``"5"``
is not 5), while an integer stays accepted where a float is. Containers are not strict, so a spec built
in Python may give a tuple where JSON has a list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError

#: Above this, equity and fills leave the range where prices and units are exact enough to mean anything.
MAX_CASH = 1e15
#: The datasets (symbols) one sweep may name, whatever a source's own symbols limit says.
MAX_DATASETS = 100
#: The parameter sets one strategy's grid may expand to before its constraints: the most a planner enumerates.
MAX_GRID_POINTS = 20_000_000
#: The values one range of a grid may expand to.
MAX_RANGE_VALUES = 100_000
CASH_BOUND_ERROR = f"cash must be positive and at most {MAX_CASH:g}"

#: The validation context of an event read back from the log (``zixly_contracts.envelope.decode``). The
#: limits above are checked on what a client asks for, not again on sweeps accepted earlier: a sweep
#: recorded before a limit existed still decodes, and the backtester, which applies the same limits when
#: it plans, fails it as it did then.
RECORDED: dict[str, bool] = {"recorded": True}


def _recorded(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("recorded"))


def one_error_for_the_union(kind: str, message: str) -> GetPydanticSchema:
    """A union that nothing fits fails with this one error, not one per alternative (whose
    locations would name pydantic's internals, such as ``int`` and ``float``)."""

    def schema(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        union = handler(source)
        if union["type"] != "union":
            raise TypeError(f"one_error_for_the_union applies to a union, not to {union['type']}")
        return {**union, "custom_error_type": kind, "custom_error_message": message}

    return GetPydanticSchema(schema)


Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Number = Annotated[
    StrictInt | StrictFloat, one_error_for_the_union("number_type", "Input should be a finite number")
]


class _Frozen(BaseModel):
    #: NaN and infinities are not numbers a sweep can be planned or priced with.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Range(_Frozen):
    """Evenly spaced values from ``start`` to ``stop`` inclusive."""

    start: Number
    stop: Number
    step: Annotated[Number, Field(gt=0)]  # in Annotated, the bound wraps the union and keeps its own error

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.stop < self.start:
            raise ValueError(f"range stop {self.stop} is below its start {self.start}")
        return self


NumberList = Annotated[list[Number], Field(min_length=1, max_length=10_000)]
GRID_VALUE_ERROR = 'a grid value is a number, a list of numbers, or a range {"start", "stop", "step"}'
_FINITE = ConfigDict(allow_inf_nan=False)
_RANGE = TypeAdapter(Range)
_NUMBER_LIST = TypeAdapter(NumberList, config=_FINITE)
_NUMBER = TypeAdapter(Number, config=_FINITE)


def _meant_as(value: Any) -> TypeAdapter[Any] | None:
    """The alternative of a grid value that ``value``'s shape says it was meant to be, if any."""
    if isinstance(value, Mapping):
        return _RANGE
    if isinstance(value, list | tuple):
        return _NUMBER_LIST
    if isinstance(value, float):
        return _NUMBER
    return None


def _explain_by_shape(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate a grid value; when no alternative fits, report only the errors of the one its shape
    was meant to be (a range's missing ``stop`` at ``….stop``), or that it has no such shape."""
    try:
        return handler(value)
    except ValidationError:
        pass
    meant = _meant_as(value)
    if meant is not None:
        meant.validate_python(value)  # raises that alternative's own errors, at the value's own paths
    raise PydanticCustomError("grid_value", GRID_VALUE_ERROR)


#: The alternatives stay one flat union (not ``Range | NumberList | Number``) so that the JSON Schema
#: keeps its stored shape; their errors never reach the user, :func:`_explain_by_shape` reports instead.
ParamValues = Annotated[Range | NumberList | StrictInt | StrictFloat, WrapValidator(_explain_by_shape)]


class Constraint(_Frozen):
    """Keeps only the parameter sets where ``left <op> right`` holds (e.g. fast < slow)."""

    left: Name
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    right: Annotated[
        Name | StrictInt | StrictFloat,
        one_error_for_the_union(
            "constraint_operand",
            "Input should be a parameter name (letters, digits, '_', '.', '-') or a finite number",
        ),
    ]


class Sample(_Frozen):
    """Draw ``n`` parameter sets at random (without replacement) from the constrained grid."""

    n: StrictInt = Field(gt=0, le=1_000_000)
    seed: StrictInt = 0


class StrategyGrid(_Frozen):
    name: Name
    grid: dict[Name, ParamValues] = Field(default_factory=dict)
    constraints: list[Constraint] = Field(default_factory=list, max_length=32)
    sample: Sample | None = None

    @cached_property
    def points(self) -> int | None:
        """:func:`grid_points`, counted once per grid (the limits and ingest's bound both ask)."""
        return grid_points(self)


class DatasetRef(_Frozen):
    """A dataset in the object store (``datasets/<symbol>.csv``) and how often its bars come."""

    symbol: Name
    periods_per_year: StrictFloat = Field(gt=0, le=1_000_000)


class Execution(_Frozen):
    """How orders fill and what they cost: the execution model README.md describes ("The backtest
    engine"). Echoed in every result.

    ``cash`` is held to :data:`MAX_CASH` where a client asks for it (:class:`SweepSpec`), not here: a
    task built with more fails at the engine, which checks the same bound."""

    #: The JSON Schema keeps the description its stored versions have: a new one would need a new version.
    model_config = ConfigDict(
        json_schema_extra={
            "description": "How orders fill and what they cost (DESIGN §6). Echoed in every result."
        }
    )

    cash: StrictFloat = Field(default=10_000.0, gt=0)
    fill: Literal["next_open", "close"] = "next_open"
    units: Literal["fractional", "whole"] = "fractional"
    direction: Literal["long_only", "long_short"] = "long_only"
    fee_bps: StrictFloat = Field(default=0.0, ge=-100, le=1_000)
    fixed_fee: StrictFloat = Field(default=0.0, ge=0)
    slippage_bps: StrictFloat = Field(default=0.0, ge=0, le=1_000)
    stop_loss_pct: StrictFloat | None = Field(default=None, gt=0, lt=100)
    take_profit_pct: StrictFloat | None = Field(default=None, gt=0)
    risk_free_rate: StrictFloat = Field(default=0.0, ge=-1, le=1)


def range_length(r: Range) -> int | None:
    """The values ``r`` expands to, counted as the planner expands them (a step landing within 1e-9 of
    ``stop`` counts); None when they are more than :data:`MAX_RANGE_VALUES`."""
    try:
        span = (r.stop - r.start) / r.step
    except OverflowError:  # integers too large for a float
        return None
    if span + 1 > MAX_RANGE_VALUES:  # also an infinite span
        return None
    return math.floor(span + 1e-9) + 1


def values_count(values: Range | Sequence[int | float] | int | float) -> int | None:
    """The distinct values one entry of a grid stands for (None for a range over the limit)."""
    if isinstance(values, Range):
        return range_length(values)
    if isinstance(values, int | float):
        return 1
    return len(set(values))


def grid_points(strategy: StrategyGrid) -> int | None:
    """The parameter sets of a strategy's grid before its constraints (None for a range over the limit);
    parameters the grid omits take one value, their default."""
    counts = [values_count(values) for values in strategy.grid.values()]
    if None in counts:
        return None
    return math.prod(count for count in counts if count is not None)


def _range_too_long(name: str, r: Range) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError(
            "range_too_long",
            "range {start}:{stop}:{step} has more than {limit} values",
            {"start": r.start, "stop": r.stop, "step": r.step, "limit": MAX_RANGE_VALUES},
        ),
        loc=("grid", name),
        input=r.model_dump(),
    )


def _grid_too_large(strategy: StrategyGrid, points: int) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError(
            "grid_too_large",
            "the grid of {strategy} has {points} combinations before constraints; the limit is {limit}",
            {"strategy": strategy.name, "points": points, "limit": MAX_GRID_POINTS},
        ),
        loc=("grid",),
        input=dict(strategy.grid),
    )


def grid_limit_errors(strategy: StrategyGrid) -> list[InitErrorDetails]:
    """Each range of the grid over :data:`MAX_RANGE_VALUES`, else the grid if over :data:`MAX_GRID_POINTS`:
    the planner's own limits and reasons, located in the strategy."""
    too_long = [
        _range_too_long(name, values)
        for name, values in strategy.grid.items()
        if isinstance(values, Range) and range_length(values) is None
    ]
    if too_long:
        return too_long
    points = strategy.points
    if points is not None and points > MAX_GRID_POINTS:
        return [_grid_too_large(strategy, points)]
    return []


def _located(index: int, error: InitErrorDetails) -> InitErrorDetails:
    return {**error, "loc": (index, *error["loc"])}


class SweepSpec(_Frozen):
    """What a client asks for: the ``data`` of a ``sweep.requested`` webhook."""

    name: str = Field(default="", max_length=200)
    datasets: list[DatasetRef] = Field(min_length=1, max_length=MAX_DATASETS)
    strategies: list[StrategyGrid] = Field(min_length=1, max_length=50)
    execution: Execution = Field(default_factory=Execution)
    batch_size: StrictInt | None = Field(default=None, gt=0, le=10_000)

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("the name may not contain control characters")
        return value

    @field_validator("execution")
    @classmethod
    def _cash_within_bound(cls, execution: Execution, info: ValidationInfo) -> Execution:
        if execution.cash > MAX_CASH and not _recorded(info):
            error = PydanticCustomError("less_than_equal", CASH_BOUND_ERROR, {"le": MAX_CASH})
            raise ValidationError.from_exception_data(
                cls.__name__, [InitErrorDetails(type=error, loc=("cash",), input=execution.cash)]
            )
        return execution

    @field_validator("strategies")
    @classmethod
    def _grids_within_limits(cls, strategies: list[StrategyGrid], info: ValidationInfo) -> list[StrategyGrid]:
        if _recorded(info):
            return strategies
        errors = [
            _located(index, error)
            for index, strategy in enumerate(strategies)
            for error in grid_limit_errors(strategy)
        ]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return strategies
