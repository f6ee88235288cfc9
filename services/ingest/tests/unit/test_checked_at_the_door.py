"""What ingest refuses before anything is published, and the exact answer it gives: numbers that are not
numbers, sweeps the planner could not run, empty headers and null data, content codings and charsets."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from ingest_testkit import SPEC, FakeEventPublisher, asgi_client, fake_app, payload, problem_of, signed

from zixly_contracts.sweep_spec import GRID_VALUE_ERROR
from zixly_ingest.domain.errors import MalformedRequest
from zixly_ingest.domain.model import interpret
from zixly_ingest.domain.sources import Limits, Source

URL = "/webhooks/trading-api"
FINITE = "Input should be a finite number"


async def post(
    body: bytes, headers: dict[str, str] | None = None, publisher: FakeEventPublisher | None = None
):
    async with asgi_client(fake_app(publisher or FakeEventPublisher())) as c:
        return await c.post(URL, content=body, headers=signed(body) if headers is None else headers)


async def test_booleans_and_strings_are_not_numbers():
    spec = {
        "datasets": [{"symbol": "GOOG_1d", "periods_per_year": "252"}],
        "strategies": [{"name": "sma_cross", "grid": {"fast": "5", "slow": [True, 20]}}],
        "execution": {"cash": True},
    }
    publisher = FakeEventPublisher()
    problem = problem_of(await post(payload(spec), publisher=publisher), 422, "invalid-sweep")
    assert problem["errors"] == [
        {
            "loc": ["data", "datasets", 0, "periods_per_year"],
            "msg": "Input should be a valid number",
            "type": "float_type",
        },
        {"loc": ["data", "strategies", 0, "grid", "fast"], "msg": GRID_VALUE_ERROR, "type": "grid_value"},
        {"loc": ["data", "strategies", 0, "grid", "slow", 0], "msg": FINITE, "type": "number_type"},
        {"loc": ["data", "execution", "cash"], "msg": "Input should be a valid number", "type": "float_type"},
    ]
    assert publisher.published == []


async def test_a_range_of_booleans_is_refused():
    spec = {
        **SPEC,
        "strategies": [{"name": "sma_cross", "grid": {"fast": {"start": True, "stop": 5, "step": True}}}],
    }
    problem = problem_of(await post(payload(spec)), 422, "invalid-sweep")
    assert problem["detail"] == (
        f"data.strategies.0.grid.fast.start: {FINITE}; data.strategies.0.grid.fast.step: {FINITE}"
    )


async def test_cash_the_engine_would_refuse_is_refused_here_with_its_reason():
    problem = problem_of(await post(payload({**SPEC, "execution": {"cash": 1e308}})), 422, "invalid-sweep")
    assert problem["detail"] == "data.execution.cash: cash must be positive and at most 1e+15"
    assert problem["errors"] == [
        {
            "loc": ["data", "execution", "cash"],
            "msg": "cash must be positive and at most 1e+15",
            "type": "less_than_equal",
        }
    ]


async def test_a_grid_over_the_planners_cap_is_refused_here_though_sampled():
    grid = {"fast": {"start": 1, "stop": 4000, "step": 1}, "slow": {"start": 1, "stop": 5001, "step": 1}}
    spec = {**SPEC, "strategies": [{"name": "sma_cross", "grid": grid, "sample": {"n": 50}}]}
    problem = problem_of(await post(payload(spec)), 422, "invalid-sweep")
    assert problem["errors"] == [
        {
            "loc": ["data", "strategies", 0, "grid"],
            "msg": "the grid of sma_cross has 20004000 combinations before constraints; "
            "the limit is 20000000",
            "type": "grid_too_large",
        }
    ]


async def test_a_sampled_grid_within_the_cap_is_accepted():
    grid = {"fast": {"start": 1, "stop": 4000, "step": 1}, "slow": {"start": 1, "stop": 5000, "step": 1}}
    spec = {**SPEC, "strategies": [{"name": "sma_cross", "grid": grid, "sample": {"n": 50}}]}
    assert (await post(payload(spec))).status_code == 202


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("", "the header 'webhook-id' is empty"),
        ("   ", "the header 'webhook-id' is empty"),
        (None, "the header 'webhook-id' is missing"),
    ],
)
async def test_an_empty_header_is_said_to_be_empty(value, detail):
    body = payload()
    headers = {k: v for k, v in signed(body).items() if k != "webhook-id"}
    if value is not None:
        headers["webhook-id"] = value
    assert problem_of(await post(body, headers), 400, "malformed-request")["detail"] == detail


@pytest.mark.parametrize(
    ("data", "detail", "msg"),
    [
        ("null", "data: must be a JSON object (the sweep spec), not null", "must be a JSON object, not null"),
        (
            "[]",
            "data: must be a JSON object (the sweep spec), not an array",
            "must be a JSON object, not an array",
        ),
        (
            '"x"',
            "data: must be a JSON object (the sweep spec), not a string",
            "must be a JSON object, not a string",
        ),
    ],
)
async def test_data_that_is_not_an_object_is_said_to_be_what_it_is(data, detail, msg):
    body = b'{"type": "sweep.requested", "data": ' + data.encode() + b"}"
    problem = problem_of(await post(body), 422, "invalid-sweep")
    assert problem["detail"] == detail
    assert problem["errors"] == [{"loc": ["data"], "msg": msg, "type": "dict_type"}]


async def test_missing_data_is_said_to_be_missing():
    body = b'{"type": "sweep.requested"}'
    problem = problem_of(await post(body), 422, "invalid-sweep")
    assert problem["detail"] == "data: field required (the sweep spec)"
    assert problem["errors"] == [{"loc": ["data"], "msg": "Field required", "type": "missing"}]


def hmac_source() -> Source:
    limits = Limits(max_body_bytes=1_000_000, max_backtests=1_000_000, max_symbols=10, max_bars=None)
    return Source(
        name="github",
        scheme="hmac-sha256-hex",
        secrets=("s",),
        limits=limits,
        rate_per_second=1.0,
        rate_burst=1,
        type_header="x-github-event",
        type_field=None,
    )


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("", "the header 'x-github-event' (the payload type) is empty"),
        (None, "the header 'x-github-event' (the payload type) is missing"),
    ],
)
def test_an_empty_payload_type_header_is_said_to_be_empty(value, detail):
    with pytest.raises(MalformedRequest) as caught:
        interpret(hmac_source(), json.dumps({"data": SPEC}), value)
    assert str(caught.value) == detail


async def test_an_empty_payload_type_header_is_400_through_the_app(monkeypatch):
    secret = "a-github-style-secret-of-some-length"
    sources = {
        "github": {
            "scheme": "hmac-sha256-hex",
            "secrets": ["env:ZIXLY_TEST_GH_SECRET"],
            "type_header": "X-GitHub-Event",
            "events": {"sweep": "sweep.requested"},
        }
    }
    body = json.dumps({"data": SPEC}).encode()
    headers = {
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "X-GitHub-Delivery": "d-1",
        "X-GitHub-Event": "",
        "Content-Type": "application/json",
    }
    monkeypatch.setenv("ZIXLY_TEST_GH_SECRET", secret)
    async with asgi_client(fake_app(FakeEventPublisher(), ingest_sources=sources)) as c:
        response = await c.post("/webhooks/github", content=body, headers=headers)
    detail = problem_of(response, 400, "malformed-request")["detail"]
    assert detail == "the header 'x-github-event' (the payload type) is empty"


ENCODING_REFUSED = (
    "the Content-Encoding header says {!r}; send the body unencoded (no Content-Encoding, or identity): "
    "bodies are not decoded, the signature is over the bytes sent"
)


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate", "GZIP", "identity, gzip"])
async def test_a_content_coding_is_415_naming_the_header(coding):
    body = payload()
    publisher = FakeEventPublisher()
    response = await post(body, {**signed(body), "content-encoding": coding}, publisher)
    problem = problem_of(response, 415, "unsupported-media-type")
    assert problem["detail"] == ENCODING_REFUSED.format(coding)
    assert response.headers["accept-encoding"] == "identity"
    assert publisher.published == []


@pytest.mark.parametrize("coding", ["identity", "Identity", ""])
async def test_the_identity_coding_is_accepted(coding):
    body = payload()
    assert (await post(body, {**signed(body), "content-encoding": coding})).status_code == 202


@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", '"ascii"'])
async def test_a_charset_other_than_utf8_is_415_naming_it(charset):
    body = payload()
    headers = {**signed(body), "content-type": f"application/json; charset={charset}"}
    problem = problem_of(await post(body, headers), 415, "unsupported-media-type")
    assert problem["detail"] == (
        f"the Content-Type header names charset {charset!r}; "
        "send the body as UTF-8 (charset=utf-8 or no charset)"
    )


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "Utf-8", '"utf-8"'])
async def test_utf8_in_any_case_is_accepted(charset):
    body = payload()
    headers = {**signed(body), "content-type": f"application/json; charset={charset}"}
    assert (await post(body, headers)).status_code == 202


async def test_the_openapi_document_describes_the_415_answers():
    async with asgi_client(fake_app()) as c:
        document = (await c.get("/openapi.json")).json()
    refused = document["paths"]["/webhooks/{source}"]["post"]["responses"]["415"]
    assert "Content-Encoding other than identity" in refused["description"]
    assert "charset other than UTF-8" in refused["description"]
    assert set(refused["headers"]) == {"Accept-Encoding"}
