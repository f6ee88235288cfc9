"""Read-only HTTP API over the read models, and the live monitoring page at ``/``."""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AfterValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from zixly_contracts.ids import SWEEP_ID_PATTERN
from zixly_contracts.ranking import HIGHER_IS_BETTER
from zixly_dashboard_api.domain.model import ResultView, SweepView
from zixly_dashboard_api.service_layer.ports import ReadModels
from zixly_runtime.problems import PROBLEM_SCHEMA, problem


def _without_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (%00); PostgreSQL text cannot hold one")
    return value


#: Every text parameter, query or path: PostgreSQL text cannot hold a NUL character, so one is refused
#: here with a 422 naming the parameter, never sent to the database.
Text = Annotated[str, AfterValidator(_without_nul)]
#: Sweep ids are UUIDs; anything outside this alphabet is refused before it reaches the database.
SweepId = Annotated[Text, Path(pattern=SWEEP_ID_PATTERN)]
#: Rows to skip before a page; bounded so that no number past PostgreSQL's bigint reaches it.
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
PAGE = files("zixly_dashboard_api.entrypoints").joinpath("static/index.html")


def create_app(read_models: ReadModels, *, lifespan: object = None) -> FastAPI:
    app = FastAPI(title="Zixly dashboard", version="1", lifespan=lifespan)  # type: ignore[arg-type]

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "http", str(exc.detail), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return problem(422, "invalid-query", "Invalid query", detail)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    @app.get("/api/sweeps", response_model=list[SweepView])
    async def list_sweeps(
        limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0
    ) -> list[SweepView]:
        return await read_models.sweeps(limit, offset)

    @app.get("/api/sweeps/{sweep_id}", response_model=SweepView, responses={404: PROBLEM_SCHEMA})
    async def get_sweep(sweep_id: SweepId) -> SweepView | JSONResponse:
        sweep = await read_models.sweep(sweep_id)
        if sweep is None:
            return problem(404, "unknown-sweep", "Unknown sweep", f"no sweep with id {sweep_id!r}")
        return sweep

    @app.get(
        "/api/sweeps/{sweep_id}/results",
        response_model=list[ResultView],
        responses={404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA},
    )
    async def get_results(
        sweep_id: SweepId,
        order_by: Text = "sharpe",
        order: Annotated[Text | None, Query(pattern="^(asc|desc)$")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 20,
        offset: Offset = 0,
        dataset: Text | None = None,
        strategy: Text | None = None,
    ) -> list[ResultView] | JSONResponse:
        if order_by not in HIGHER_IS_BETTER:  # the table `zixly sweep run --rank-by` uses too
            return problem(
                422,
                "unknown-metric",
                "Unknown metric",
                f"order_by must be one of: {', '.join(HIGHER_IS_BETTER)} (got {order_by!r})",
            )
        if await read_models.sweep(sweep_id) is None:
            return problem(404, "unknown-sweep", "Unknown sweep", f"no sweep with id {sweep_id!r}")
        descending = HIGHER_IS_BETTER[order_by] if order is None else order == "desc"
        return await read_models.results(
            sweep_id,
            order_by=order_by,
            descending=descending,
            limit=limit,
            offset=offset,
            dataset=dataset,
            strategy=strategy,
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: PROBLEM_SCHEMA})
    async def readyz() -> JSONResponse:
        if await read_models.ping():
            return JSONResponse({"status": "ready"})
        return problem(
            503, "not-ready", "Not ready", "the read-model database does not answer", retry_after=5
        )

    return app
