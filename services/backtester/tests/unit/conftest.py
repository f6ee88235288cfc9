from __future__ import annotations

from pathlib import Path

import pytest

from zixly_backtester.domain.bars import Bars, load_bars

DATA = Path(__file__).resolve().parents[4] / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def goog() -> Bars:
    return load_bars(DATA / "GOOG_1d.csv")


@pytest.fixture(scope="session")
def eurusd() -> Bars:
    return load_bars(DATA / "EURUSD_1h.csv")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "oracle: compares the engine with vectorbt and backtesting.py (dev-only, slow-ish, bounded)",
    )
