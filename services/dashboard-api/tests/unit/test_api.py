"""The dashboard API over a fake read model: query validation, ordering rules, problems."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from zixly_dashboard_api.domain.model import ResultView, SweepView
from zixly_dashboard_api.entrypoints.http import create_app

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def sweep(sweep_id: str = "s1", **kw) -> SweepView:
    base = {
        "sweep_id": sweep_id,
        "name": "demo",
        "status": "running",
        "datasets": ["GOOG_1d"],
        "strategies": ["sma_cross"],
        "task_count": 4,
        "backtest_count": 10,
        "tasks_done": 1,
        "tasks_failed": 1,
        "backtests_done": 3,
        "failure_reason": None,
        "requested_at": NOW,
        "planned_at": NOW,
        "completed_at": None,
        "updated_at": NOW,
    }
    return SweepView(**{**base, **kw})


class FakeReadModels:
    def __init__(self) -> None:
        self.sweeps_ = {"s1": sweep()}
        self.queries: list[dict] = []

    async def sweeps(self, limit: int, offset: int) -> list[SweepView]:
        return list(self.sweeps_.values())[offset : offset + limit]

    async def sweep(self, sweep_id: str) -> SweepView | None:
        return self.sweeps_.get(sweep_id)

    async def results(self, sweep_id: str, **query) -> list[ResultView]:
        self.queries.append(query)
        return [
            ResultView(
                dataset="GOOG_1d",
                strategy="sma_cross",
                params={"fast": 10, "slow": 20},
                metrics={"total_return": 6.192492, "sharpe": 0.9},
            )
        ]

    async def ping(self) -> bool:
        return True


@pytest.fixture
def models() -> FakeReadModels:
    return FakeReadModels()


@pytest.fixture
async def client(models: FakeReadModels):
    app = create_app(models)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as c:
        yield c


async def test_sweep_progress_counts_failed_tasks_as_reported(client):
    body = (await client.get("/api/sweeps/s1")).json()
    assert body["progress"] == 0.5
    assert body["backtests_done"] == 3


async def test_unplanned_sweep_has_no_progress_yet(client, models):
    models.sweeps_["s2"] = sweep("s2", task_count=None, tasks_done=0, tasks_failed=0)
    assert (await client.get("/api/sweeps/s2")).json()["progress"] is None


async def test_unknown_sweep_is_a_404_problem(client):
    response = await client.get("/api/sweeps/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "nope" in response.json()["detail"]


async def test_results_default_to_best_first_for_the_metric(client, models):
    assert (await client.get("/api/sweeps/s1/results?order_by=total_return&limit=5")).status_code == 200
    assert (await client.get("/api/sweeps/s1/results?order_by=max_drawdown_days")).status_code == 200
    assert (await client.get("/api/sweeps/s1/results?order_by=sharpe&order=asc&offset=40")).status_code == 200
    assert [(q["order_by"], q["descending"], q["limit"], q["offset"]) for q in models.queries] == [
        ("total_return", True, 5, 0),
        ("max_drawdown_days", False, 20, 0),
        ("sharpe", False, 20, 40),
    ]


async def test_volatility_and_drawdown_durations_default_to_lowest_first(client, models):
    for metric in ("annual_volatility", "max_drawdown_bars", "max_drawdown_days", "max_drawdown"):
        assert (await client.get(f"/api/sweeps/s1/results?order_by={metric}")).status_code == 200
    assert [(q["order_by"], q["descending"]) for q in models.queries] == [
        ("annual_volatility", False),
        ("max_drawdown_bars", False),
        ("max_drawdown_days", False),
        ("max_drawdown", True),  # negative: the shallowest drawdown is the highest value
    ]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("order_by=drop%20table", "order_by must be one of"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("order=sideways", "order"),
    ],
)
async def test_bad_queries_are_422_problems(client, query, needle):
    response = await client.get(f"/api/sweeps/s1/results?{query}")
    assert response.status_code == 422
    assert needle in response.json()["detail"]


async def test_the_page_polls_the_api(client):
    page = await client.get("/")
    assert page.status_code == 200
    assert "/api/sweeps?limit=50" in page.text


@pytest.mark.parametrize("path", ["/api/sweeps/%00", "/api/sweeps/a%00b/results", "/api/sweeps/" + "x" * 129])
async def test_sweep_ids_outside_the_id_alphabet_are_422_problems(client, path):
    response = await client.get(path)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "sweep_id" in response.json()["detail"]


NUL_MESSAGE = "Value error, must not contain a NUL character (%00); PostgreSQL text cannot hold one"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("dataset=%00", "dataset"),
        ("dataset=a%00b", "dataset"),
        ("strategy=%00", "strategy"),
        ("strategy=sma%00cross", "strategy"),
        ("order_by=sharpe%00", "order_by"),
        ("order=asc%00", "order"),
    ],
)
async def test_a_nul_in_any_text_parameter_is_a_422_problem_naming_it(client, models, query, param):
    response = await client.get(f"/api/sweeps/s1/results?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://zixly.dev/problems/invalid-query"
    assert body["status"] == 422
    assert body["detail"] == f"query.{param}: {NUL_MESSAGE}"
    assert models.queries == []


async def test_text_filters_without_nul_reach_the_read_model(client, models):
    response = await client.get("/api/sweeps/s1/results?dataset=GOOG_1d&strategy=sma_cross")
    assert response.status_code == 200
    assert [(q["dataset"], q["strategy"]) for q in models.queries] == [("GOOG_1d", "sma_cross")]
