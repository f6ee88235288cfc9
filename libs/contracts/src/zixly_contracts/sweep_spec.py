"""The shape of a sweep request: datasets × strategies × parameter grids, and how trades execute.

Parameter grids and constraints are data, never code: a constraint names two parameters and a
comparison from a fixed list (DESIGN §9).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError


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
Number = Annotated[int | float, one_error_for_the_union("number_type", "Input should be a finite number")]


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
ParamValues = Annotated[Range | NumberList | int | float, WrapValidator(_explain_by_shape)]


class Constraint(_Frozen):
    """Keeps only the parameter sets where ``left <op> right`` holds (e.g. fast < slow)."""

    left: Name
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    right: Annotated[
        Name | int | float,
        one_error_for_the_union(
            "constraint_operand",
            "Input should be a parameter name (letters, digits, '_', '.', '-') or a finite number",
        ),
    ]


class Sample(_Frozen):
    """Draw ``n`` parameter sets at random (without replacement) from the constrained grid."""

    n: int = Field(gt=0, le=1_000_000)
    seed: int = 0


class StrategyGrid(_Frozen):
    name: Name
    grid: dict[Name, ParamValues] = Field(default_factory=dict)
    constraints: list[Constraint] = Field(default_factory=list, max_length=32)
    sample: Sample | None = None


class DatasetRef(_Frozen):
    """A dataset in the object store (``datasets/<symbol>.csv``) and how often its bars come."""

    symbol: Name
    periods_per_year: float = Field(gt=0, le=1_000_000)


class Execution(_Frozen):
    """How orders fill and what they cost (DESIGN §6). Echoed in every result."""

    cash: float = Field(default=10_000.0, gt=0)
    fill: Literal["next_open", "close"] = "next_open"
    units: Literal["fractional", "whole"] = "fractional"
    direction: Literal["long_only", "long_short"] = "long_only"
    fee_bps: float = Field(default=0.0, ge=-100, le=1_000)
    fixed_fee: float = Field(default=0.0, ge=0)
    slippage_bps: float = Field(default=0.0, ge=0, le=1_000)
    stop_loss_pct: float | None = Field(default=None, gt=0, lt=100)
    take_profit_pct: float | None = Field(default=None, gt=0)
    risk_free_rate: float = Field(default=0.0, ge=-1, le=1)


class SweepSpec(_Frozen):
    """What a client asks for: the ``data`` of a ``sweep.requested`` webhook."""

    name: str = Field(default="", max_length=200)
    datasets: list[DatasetRef] = Field(min_length=1, max_length=100)
    strategies: list[StrategyGrid] = Field(min_length=1, max_length=50)
    execution: Execution = Field(default_factory=Execution)
    batch_size: int | None = Field(default=None, gt=0, le=10_000)

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("the name may not contain control characters")
        return value
