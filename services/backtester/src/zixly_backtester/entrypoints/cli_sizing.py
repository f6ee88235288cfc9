"""A run whose every parameter set stayed flat because no position could be sized gets a warning."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from zixly_backtester.domain.bars import Bars


def _traded(metrics: Sequence[Mapping[str, Any]]) -> bool:
    return any((m.get("closed_trades") or 0) + (m.get("open_trades") or 0) > 0 for m in metrics)


def _cause(bars: Bars, settings: Any) -> str:
    if settings.fixed_fee >= settings.cash:
        return f"--fixed-fee {settings.fixed_fee:g} is not below --cash {settings.cash:g}"
    if settings.units == "whole":
        low = float(np.nanmin(bars.close))
        return (
            f"--cash {settings.cash:g} does not cover one whole unit plus the fees "
            f"(the lowest close is {low:.6g}); use --units fractional or more --cash"
        )
    return f"--cash {settings.cash:g} does not cover the fees of an order"


def sizing_warning(
    bars: Bars,
    dataset: str,
    strategy: str,
    param_sets: Sequence[Mapping[str, float]],
    settings: Any,
    metrics: Sequence[Mapping[str, Any]],
) -> str | None:
    """A one-line warning when no set traded and sizing is why, else ``None``.

    Sizing is the cause when the same sets do trade with fractional units and no fixed fee (the
    only sizing under which any cash buys a position).
    """
    from zixly_backtester.domain.engine import run_batch

    if not metrics or _traded(metrics):
        return None
    if settings.units == "fractional" and settings.fixed_fee == 0:
        return None
    unconstrained = dataclasses.replace(settings, units="fractional", fixed_fee=0.0)
    if not _traded(run_batch(bars, strategy, param_sets, unconstrained).metrics):
        return None  # the strategy never signals here: not a sizing problem
    every = "the parameter set" if len(param_sets) == 1 else f"any of the {len(param_sets)} parameter sets"
    return f"warning: {dataset}: no position could be opened for {every} (0 trades): {_cause(bars, settings)}"
