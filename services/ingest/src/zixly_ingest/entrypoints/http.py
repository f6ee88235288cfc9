"""The HTTP edge: ``POST /webhooks/{source}``, health probes, problem+json for every refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from zixly_contracts.sweep_spec import SweepSpec
from zixly_ingest.domain.errors import (
    BodyTooLarge,
    MalformedRequest,
    Rejected,
    TryLater,
    UnsupportedContentEncoding,
    UnsupportedMediaType,
)
from zixly_ingest.domain.model import one_header
from zixly_ingest.entrypoints.problems import PROBLEM_SCHEMA, problem, problem_for, problem_response
from zixly_ingest.service_layer.handlers import Accepted, Intake

log = structlog.get_logger("zixly_ingest.http")
tracer = trace.get_tracer("zixly_ingest")


class Receipt(BaseModel):
    """The answer to an accepted webhook: the same for every delivery of one webhook id."""

    status: Literal["accepted", "duplicate", "ignored"]
    webhook_id: str
    #: The sweep the webhook asks for (absent for an ignored payload type).
    sweep_id: str | None = None


class RequestTimeout(Exception):
    pass


async def read_capped(stream: AsyncIterator[bytes], limit: int) -> bytes:
    """Read a request body, failing as soon as it passes ``limit`` bytes (chunked bodies too)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


#: The charsets a body may name: UTF-8, under its name and its common label without the hyphen.
UTF8_NAMES = ("utf-8", "utf8")


def check_media_type(value: str | None) -> None:
    """``Content-Type`` must be ``application/json``, with no charset or UTF-8 (the body is read as UTF-8)."""
    media_type, _, params = (value or "").partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json (got {media_type or 'no content type'!r})"
        )
    for param in params.split(";"):
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in UTF8_NAMES:
            raise UnsupportedMediaType(
                f"the Content-Type header names charset {charset.strip()!r}; send the body as UTF-8 "
                "(charset=utf-8 or no charset)"
            )


def check_content_encoding(value: str | None) -> None:
    """A body is taken as sent: the signature is over those bytes, and none is decoded. So a
    ``Content-Encoding`` other than ``identity`` is refused rather than ignored."""
    if value is None:
        return
    codings = [coding.strip().lower() for coding in value.split(",")]
    if any(coding not in ("", "identity") for coding in codings):
        raise UnsupportedContentEncoding(
            f"the Content-Encoding header says {value.strip()!r}; send the body unencoded "
            "(no Content-Encoding, or identity): bodies are not decoded, the signature is over the bytes sent"
        )


WEBHOOK_PATH = "/webhooks/{source}"
WEBHOOK_RESPONSES: dict[str, dict[str, Any]] = {
    "202": {
        "description": "Accepted: the events are acknowledged by the broker (or were already, for a "
        "redelivery: status `duplicate`), or the payload type is one the source ignores",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}},
    },
    "400": problem_response("Malformed: a header missing or repeated, a body that is not UTF-8 or JSON"),
    "401": problem_response("The signature does not verify, or its timestamp is outside ±300 s"),
    "404": problem_response("No such source"),
    "408": problem_response("The body did not arrive in time"),
    "409": problem_response(
        "The webhook id is being published by another delivery right now (retry), "
        "or was accepted with a different body",
        retry_after=True,
    ),
    "413": problem_response("The body is over the source's limit (refused while streaming)"),
    "415": problem_response(
        "The body is not application/json, names a charset other than UTF-8, or has a Content-Encoding "
        "other than identity (bodies are taken as sent: the signature is over those bytes)",
        accept_encoding=True,
    ),
    "422": problem_response("Not a valid sweep request, an unmapped payload type, or a sweep over a limit"),
    "429": problem_response("The source sends faster than its rate limit", retry_after=True),
    "503": problem_response(
        "The broker or the dedupe store is unavailable: nothing was published", retry_after=True
    ),
}

WEBHOOK_OPERATION: dict[str, Any] = {
    "summary": "Receive a signed webhook from a configured source",
    "operationId": "post_webhook",
    "parameters": [
        {"name": "source", "in": "path", "required": True, "schema": {"type": "string"}},
        *[
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": description,
                "schema": {"type": "string"},
            }
            for name, description in (
                ("webhook-id", "Standard Webhooks: the webhook's unique id (the dedupe key)"),
                ("webhook-timestamp", "Standard Webhooks: signing time, integer seconds since the epoch"),
                ("webhook-signature", "Standard Webhooks: `v1,<base64 HMAC-SHA256>`, space separated"),
            )
        ],
    ],
    "requestBody": {
        "required": True,
        "description": 'A Standard Webhooks payload `{"type": "sweep.requested", "data": <sweep spec>}` '
        "(the default mapping; a source may map other payload types). Signed over these exact bytes.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "example": "sweep.requested"},
                        "timestamp": {"type": "string", "format": "date-time"},
                        "data": {"$ref": "#/components/schemas/SweepSpec"},
                    },
                    "required": ["type", "data"],
                }
            }
        },
    },
    "responses": WEBHOOK_RESPONSES,
}


def create_app(
    *,
    intake: Intake,
    ready: Callable[[], Awaitable[list[str]]],
    body_timeout_s: float = 10.0,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Zixly ingest",
        version="1",
        summary="Receives signed sweep webhooks and publishes them to Kafka, exactly once per webhook id.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry layer would add spans to every request; ingest makes exactly one
        # per webhook (below), and its metrics come from the runtime's middleware.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
        return problem(exc.status_code, slug, str(exc.detail), str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "invalid-request", "Invalid request", str(exc.errors()))

    async def post_webhook(request: Request) -> Response:
        """``POST /webhooks/{source}``: a plain Starlette endpoint (FastAPI's per-request dependency
        machinery costs more than everything else here); its OpenAPI operation is written out below."""
        source = request.path_params["source"]
        with tracer.start_as_current_span(
            "POST /webhooks/{source}",
            context=propagate.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": "POST", "http.route": WEBHOOK_PATH, "zixly.source": source},
        ) as span:
            try:
                body = await _receive(source, request)
            except (Rejected, TryLater) as exc:
                response = problem_for(exc)
                log.warning(
                    "webhook.refused",
                    source=source,
                    status=response.status_code,
                    reason=type(exc).__name__,
                    detail=str(exc),
                    webhook_id=request.headers.get("webhook-id"),
                )
            except RequestTimeout:
                response = problem(
                    408,
                    "request-timeout",
                    "Request timeout",
                    f"send the whole body within {body_timeout_s:g} s",
                )
            else:
                span.set_attribute("zixly.webhook_id", body["webhook_id"])
                response = JSONResponse(body, status_code=202)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _receive(source: str, request: Request) -> dict[str, str]:
        limits = intake.source(source).limits
        headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in request.headers.raw
        ]
        check_media_type(one_header(headers, "content-type"))
        check_content_encoding(one_header(headers, "content-encoding"))
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limits.max_body_bytes:
            raise BodyTooLarge(limits.max_body_bytes)
        try:
            async with asyncio.timeout(body_timeout_s):
                raw = await read_capped(request.stream(), limits.max_body_bytes)
        except TimeoutError:
            raise RequestTimeout from None
        except ClientDisconnect:
            raise MalformedRequest("the client went away before the body was complete") from None
        outcome = await intake.receive_webhook(source=source, raw_body=raw, headers=headers)
        if isinstance(outcome, Accepted):
            status = "duplicate" if outcome.duplicate else "accepted"
            return {"status": status, "webhook_id": outcome.webhook_id, "sweep_id": outcome.sweep_id}
        return {"status": "ignored", "webhook_id": outcome.webhook_id}

    app.router.add_route(WEBHOOK_PATH, post_webhook, methods=["POST"], include_in_schema=False)
    # Routes are matched in order, by the router and again by the metrics middleware: the one route that
    # takes the load goes before the documentation routes FastAPI registered already.
    app.router.routes.insert(0, app.router.routes.pop())

    @app.get("/healthz", summary="Liveness: the process serves HTTP (does not depend on Kafka or PostgreSQL)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="Readiness: the broker and the dedupe store answer, the secrets are loaded",
        responses={503: problem_response("Not ready; the detail says what is missing", retry_after=True)},
    )
    async def readyz() -> Response:
        missing = await ready()
        if not missing:
            return JSONResponse({"status": "ready"})
        return problem(503, "not-ready", "Not ready", "; ".join(missing), retry_after=5)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = PROBLEM_SCHEMA
            spec_schema = SweepSpec.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(spec_schema.pop("$defs", {}))
            components["SweepSpec"] = spec_schema
            components["Receipt"] = Receipt.model_json_schema()
            schema.setdefault("paths", {})[WEBHOOK_PATH] = {"post": WEBHOOK_OPERATION}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
