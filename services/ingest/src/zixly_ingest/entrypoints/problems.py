"""RFC 9457 ``application/problem+json`` answers: one problem type per reason, each saying what to fix."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from zixly_ingest.domain import errors

PROBLEM_TYPE_BASE = "https://zixly.dev/problems/"
MEDIA_TYPE = "application/problem+json"

#: refusal → (status, type slug, title); looked up along the exception's class hierarchy.
CATALOG: dict[type[Exception], tuple[int, str, str]] = {
    errors.UnknownSource: (404, "unknown-source", "Unknown webhook source"),
    errors.MalformedRequest: (400, "malformed-request", "Malformed request"),
    errors.UnsupportedMediaType: (415, "unsupported-media-type", "Unsupported media type"),
    errors.BodyTooLarge: (413, "body-too-large", "Body too large"),
    errors.EventTooLarge: (413, "event-too-large", "Body too large for the event log"),
    errors.StaleTimestamp: (401, "stale-timestamp", "Timestamp outside the tolerance"),
    errors.InvalidSignature: (401, "invalid-signature", "Invalid signature"),
    errors.InvalidPayload: (422, "invalid-sweep", "Invalid sweep request"),
    errors.UnsupportedPayloadType: (422, "unsupported-payload-type", "Unsupported payload type"),
    errors.SweepTooLarge: (422, "sweep-too-large", "Sweep too large"),
    errors.WebhookIdReused: (409, "webhook-id-reused", "Webhook id reused"),
    errors.DeliveryInProgress: (409, "delivery-in-progress", "Delivery in progress"),
    errors.RateLimited: (429, "rate-limited", "Too many requests"),
    errors.BrokerUnavailable: (503, "broker-unavailable", "Try again later"),
    errors.DedupeUnavailable: (503, "dedupe-unavailable", "Try again later"),
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    retry_after: int | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    all_headers = dict(headers or {})
    if retry_after is not None:
        body["retry_after"] = retry_after
        all_headers["Retry-After"] = str(retry_after)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=all_headers or None)


def problem_for(exc: Exception) -> JSONResponse:
    for cls in type(exc).__mro__:
        entry = CATALOG.get(cls)  # type: ignore[arg-type]
        if entry is not None:
            break
    else:  # pragma: no cover - every refusal class is in the catalog
        raise exc
    status, slug, title = entry
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.InvalidPayload):
        extra["errors"] = exc.errors
    if isinstance(exc, errors.SweepTooLarge):
        extra["limits"] = exc.limits
    retry_after = exc.retry_after_s if isinstance(exc, errors.TryLater) else None
    headers = exc.headers if isinstance(exc, errors.Rejected) else {}
    return problem(status, slug, title, str(exc), retry_after=retry_after, headers=headers or None, **extra)


_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}


_ACCEPT_ENCODING = {
    "Accept-Encoding": {
        "description": "the content codings accepted (`identity`), on a refused Content-Encoding",
        "schema": {"type": "string"},
    }
}


def problem_response(
    description: str, *, retry_after: bool = False, accept_encoding: bool = False
) -> dict[str, Any]:
    """An OpenAPI response object for a problem answer."""
    response: dict[str, Any] = {
        "description": description,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    headers = {**(_RETRY_AFTER if retry_after else {}), **(_ACCEPT_ENCODING if accept_encoding else {})}
    if headers:
        response["headers"] = headers
    return response


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `detail` says what was wrong and what to change",
    "type": "object",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "retry_after": {"type": "integer", "minimum": 1},
        "errors": {
            "type": "array",
            "description": "invalid-sweep: each invalid field, with its location in the body",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
                "required": ["loc", "msg", "type"],
            },
        },
        "limits": {
            "type": "array",
            "description": "sweep-too-large: each limit the sweep exceeds",
            "items": {
                "type": "object",
                "properties": {
                    "limit": {"type": "string", "enum": ["backtests", "symbols", "bars"]},
                    "asked": {"type": "integer"},
                    "max": {"type": "integer"},
                },
                "required": ["limit", "asked", "max"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}
