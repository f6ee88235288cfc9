"""The shape of a sweep request: datasets × strategies × parameter grids, and how trades execute.

Parameter grids and constraints are data, never code: a constraint names two parameters and a
comparison from a fixed list (DESIGN §9).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Number = int | float


class _Frozen(BaseModel):
    #: NaN and infinities are not numbers a sweep can be planned or priced with.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Range(_Frozen):
    """Evenly spaced values from ``start`` to ``stop`` inclusive."""

    start: Number
    stop: Number
    step: Number = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.stop < self.start:
            raise ValueError(f"range stop {self.stop} is below its start {self.start}")
        return self


ParamValues = Range | Annotated[list[Number], Field(min_length=1, max_length=10_000)] | Number


class Constraint(_Frozen):
    """Keeps only the parameter sets where ``left <op> right`` holds (e.g. fast < slow)."""

    left: Name
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    right: Name | Number


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
