"""The HTTP edge: ``POST /webhooks/{source}``, health probes, problem+json for every refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from zixly_ingest.domain.errors import BrokerUnavailable, InvalidSignature, MalformedRequest, UnknownSource
from zixly_ingest.domain.model import InvalidPayload, SweepTooLarge, pretty
from zixly_ingest.entrypoints.problems import PROBLEM_SCHEMA, problem
from zixly_ingest.service_layer.handlers import receive_webhook
from zixly_ingest.service_layer.ports import EventPublisher, SignatureVerifier


class Accepted(BaseModel):
    sweep_id: str
    webhook_id: str
    status: str = "accepted"


class BodyTooLarge(Exception):
    pass


async def read_capped(stream: AsyncIterator[bytes], limit: int) -> bytes:
    """Read a request body, failing as soon as it passes ``limit`` bytes (chunked bodies too)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    *,
    verifier: SignatureVerifier,
    publisher: EventPublisher,
    max_body_bytes: int,
    max_backtests: int,
    ready: Callable[[], Awaitable[bool]],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(title="Zixly ingest", version="1", lifespan=lifespan)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "http", str(exc.detail), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "invalid-request", "Invalid request", str(exc.errors()))

    @app.post(
        "/webhooks/{source}",
        status_code=202,
        response_model=Accepted,
        responses={
            400: PROBLEM_SCHEMA,
            401: PROBLEM_SCHEMA,
            404: PROBLEM_SCHEMA,
            413: PROBLEM_SCHEMA,
            415: PROBLEM_SCHEMA,
            422: PROBLEM_SCHEMA,
            503: PROBLEM_SCHEMA,
        },
        summary="Receive a signed sweep webhook (Standard Webhooks)",
    )
    async def post_webhook(source: str, request: Request) -> JSONResponse:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"send the body as application/json (got {content_type or 'no content type'!r})",
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return problem(
                413, "body-too-large", "Body too large", f"the body limit is {max_body_bytes} bytes"
            )
        try:
            raw = await read_capped(request.stream(), max_body_bytes)
        except BodyTooLarge:
            return problem(
                413, "body-too-large", "Body too large", f"the body limit is {max_body_bytes} bytes"
            )
        try:
            accepted = await receive_webhook(
                source=source,
                raw_body=raw,
                headers=dict(request.headers),
                verifier=verifier,
                publisher=publisher,
                max_backtests=max_backtests,
            )
        except UnknownSource as exc:
            return problem(404, "unknown-source", "Unknown webhook source", str(exc))
        except MalformedRequest as exc:
            return problem(400, "malformed-request", "Malformed request", str(exc))
        except InvalidSignature as exc:
            return problem(
                401,
                "invalid-signature",
                "Invalid signature",
                f"{exc}; sign id.timestamp.body with a current secret of the source",
            )
        except InvalidPayload as exc:
            return problem(
                422, "invalid-sweep", "Invalid sweep request", pretty(exc.errors), errors=exc.errors
            )
        except SweepTooLarge as exc:
            return problem(422, "sweep-too-large", "Sweep too large", str(exc))
        except BrokerUnavailable as exc:
            return problem(503, "broker-unavailable", "Try again later", str(exc), retry_after=5)
        body = Accepted(sweep_id=accepted.sweep_id, webhook_id=accepted.received.data.webhook_id)
        return JSONResponse(body.model_dump(), status_code=202)

    @app.get("/healthz", summary="Liveness: the process serves HTTP (does not depend on Kafka)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the broker answers", responses={503: PROBLEM_SCHEMA})
    async def readyz() -> JSONResponse:
        if await ready():
            return JSONResponse({"status": "ready"})
        return problem(503, "not-ready", "Not ready", "the Kafka broker does not answer", retry_after=5)

    return app
