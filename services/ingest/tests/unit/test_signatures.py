"""Verification over the raw bytes, cases drawn from public bug reports of webhook receivers.

Each is a real HTTP request to the app served by uvicorn on loopback (real header parsing, real
chunked bodies); the ports behind the use case are fakes, so what was published is visible.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import httpx
import pytest
from ingest_testkit import (
    SOURCE,
    Clock,
    FakeEventPublisher,
    fake_app,
    http_client,
    library_signed,
    new_id,
    serving,
    signed,
)

from zixly_contracts.topics import SWEEPS_REQUESTED, WEBHOOKS_RECEIVED

URL = f"/webhooks/{SOURCE}"
DATASETS = '"datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}]'
STRATEGIES = '"strategies": [{"name": "sma_cross", "grid": {"fast": [10], "slow": [20]}}]'


def sweep_body(name_json: str) -> bytes:
    """A sweep webhook whose ``name`` is the given JSON string literal, spelled exactly as given."""
    return (
        '{"type": "sweep.requested",  "data": {"name":'
        + name_json
        + ", "
        + DATASETS
        + ", "
        + STRATEGIES
        + "}}"
    ).encode()


@pytest.fixture
def publisher() -> FakeEventPublisher:
    return FakeEventPublisher()


async def test_our_test_signer_agrees_with_the_reference_library():
    body = sweep_body('"x/y"')
    now = time.time()
    assert signed(body, webhook_id="msg_a", at=now)["webhook-signature"] == library_signed(
        body.decode(), webhook_id="msg_a", at=now
    )


async def test_two_spaces_and_an_unescaped_slash_verify_over_the_exact_bytes(publisher):
    body = sweep_body('"x/y"')
    assert b",  " in body
    assert b"x/y" in body
    async with http_client(fake_app(publisher)) as c:
        accepted = await c.post(URL, content=body, headers=signed(body, webhook_id="m1"))
        reserialized = json.dumps(json.loads(body)).encode()
        assert reserialized != body
        refused = await c.post(URL, content=reserialized, headers=signed(body, webhook_id="m2"))
    assert accepted.status_code == 202, accepted.text
    assert refused.status_code == 401
    [received] = publisher.of(WEBHOOKS_RECEIVED)
    assert received.data.body.encode() == body, "the audit log keeps the bytes as sent"


async def test_escaped_slashes_and_unicode_escapes_verify_as_sent_and_a_re_encoding_does_not(publisher):
    body = sweep_body(r'"https:\/\/x \u00e9"')
    assert rb"https:\/\/x" in body
    assert rb"\u00e9" in body
    async with http_client(fake_app(publisher)) as c:
        accepted = await c.post(URL, content=body, headers=signed(body, webhook_id="m1"))
        same_content = json.dumps(json.loads(body), ensure_ascii=False).encode()
        refused = await c.post(URL, content=same_content, headers=signed(body, webhook_id="m2"))
    assert accepted.status_code == 202, accepted.text
    assert refused.status_code == 401
    [requested] = publisher.of(SWEEPS_REQUESTED)
    assert requested.data.spec.name == "https://x é"


async def test_literal_utf8_is_accepted_and_bytes_that_are_not_utf8_are_400(publisher):
    text = "₹ മലയാളം 🚀"
    body = sweep_body(json.dumps(text, ensure_ascii=False))
    assert text.encode() in body
    latin1 = body.replace(text.encode(), b"caf\xe9")
    async with http_client(fake_app(publisher)) as c:
        accepted = await c.post(URL, content=body, headers=signed(body, webhook_id="m1"))
        refused = await c.post(URL, content=latin1, headers=signed(latin1, webhook_id="m2"))
    assert accepted.status_code == 202, accepted.text
    assert publisher.of(SWEEPS_REQUESTED)[0].data.spec.name == text
    assert refused.status_code == 400
    assert "UTF-8" in refused.json()["detail"]
    assert len(publisher.published) == 2


@pytest.mark.parametrize(
    ("sender_minus_receiver_s", "status"),
    [(3600, 401), (301, 401), (299, 202), (0, 202), (-30, 202), (-299, 202), (-301, 401), (-3600, 401)],
)
async def test_timestamp_tolerance_is_300_seconds_both_ways(sender_minus_receiver_s, status):
    clock = Clock()
    publisher = FakeEventPublisher()
    body = sweep_body('"t"')
    async with http_client(fake_app(publisher, clock=clock)) as c:
        response = await c.post(
            URL,
            content=body,
            headers=signed(body, webhook_id=new_id(), at=clock.now + sender_minus_receiver_s),
        )
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["type"].endswith("stale-timestamp")
        assert publisher.published == []


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.75])
@pytest.mark.parametrize(
    ("sender_minus_receiver_s", "status", "detail"),
    [
        (
            301,
            401,
            "webhook-timestamp is 301 s ahead of the receiver's clock (tolerance ±300 s); "
            "check the sender's clock and sign with the current time",
        ),
        (
            -301,
            401,
            "webhook-timestamp is 301 s old (tolerance ±300 s); "
            "re-sign each delivery, retries included, with the current time",
        ),
        (300, 202, None),
        (-300, 202, None),
    ],
)
async def test_the_skew_is_stated_in_whole_seconds_exactly_as_the_tolerance_counts_it(
    fraction, sender_minus_receiver_s, status, detail
):
    clock = Clock()
    sent_at = clock.now + sender_minus_receiver_s
    clock.now += fraction  # the receiver reads its clock with a fraction of a second; the header has none
    body = sweep_body('"skew"')
    async with http_client(fake_app(clock=clock)) as c:
        response = await c.post(URL, content=body, headers=signed(body, webhook_id=new_id(), at=sent_at))
    assert response.status_code == status, response.text
    if detail is not None:
        assert response.json() == {
            "type": "https://zixly.dev/problems/stale-timestamp",
            "title": "Timestamp outside the tolerance",
            "status": 401,
            "detail": detail,
        }


async def test_a_receiver_clock_30_s_behind_the_sender_accepts():
    sender_now = time.time()
    clock = Clock(sender_now - 30)
    body = sweep_body('"behind"')
    async with http_client(fake_app(clock=clock)) as c:
        response = await c.post(URL, content=body, headers=signed(body, at=sender_now))
    assert response.status_code == 202


async def test_header_names_are_case_insensitive_on_the_wire(publisher):
    body = sweep_body('"casing"')
    headers = signed(body, webhook_id="msg_case")
    wire = [
        ("Webhook-Id", headers["webhook-id"]),
        ("Webhook-Timestamp", headers["webhook-timestamp"]),
        ("WEBHOOK-SIGNATURE", headers["webhook-signature"]),
        ("Content-Type", "Application/JSON; Charset=UTF-8"),
    ]
    async with http_client(fake_app(publisher)) as c:
        response = await c.post(URL, content=body, headers=wire)
    assert response.status_code == 202, response.text
    assert response.json()["webhook_id"] == "msg_case"


async def test_two_signature_headers_differing_only_in_case_are_400(publisher):
    body = sweep_body('"twice"')
    headers = signed(body)
    wire = [
        ("webhook-id", headers["webhook-id"]),
        ("webhook-timestamp", headers["webhook-timestamp"]),
        ("Webhook-Signature", headers["webhook-signature"]),
        ("webhook-signature", "v1,AAAA"),
        ("content-type", "application/json"),
    ]
    async with http_client(fake_app(publisher)) as c:
        response = await c.post(URL, content=body, headers=wire)
    assert response.status_code == 400
    assert "appears 2 times" in response.json()["detail"]
    assert publisher.published == []


@pytest.mark.parametrize("second", ["text/plain", "application/json"])
async def test_a_repeated_content_type_is_400_like_a_repeated_signature_header(publisher, second):
    body = sweep_body('"two types"')
    headers = signed(body)
    wire = [
        ("webhook-id", headers["webhook-id"]),
        ("webhook-timestamp", headers["webhook-timestamp"]),
        ("webhook-signature", headers["webhook-signature"]),
        ("Content-Type", "application/json"),
        ("content-type", second),
    ]
    async with http_client(fake_app(publisher)) as c:
        response = await c.post(URL, content=body, headers=wire)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://zixly.dev/problems/malformed-request",
        "title": "Malformed request",
        "status": 400,
        "detail": "the header 'content-type' appears 2 times (names are case-insensitive); send it once",
    }
    assert publisher.published == []


async def test_several_signatures_in_one_header_pass_if_any_matches():
    body = sweep_body('"rotation"')
    headers = signed(body)
    headers["webhook-signature"] = (
        "v1a,ignored v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " + headers["webhook-signature"]
    )
    async with http_client(fake_app()) as c:
        response = await c.post(URL, content=body, headers=headers)
    assert response.status_code == 202, response.text


async def test_a_chunked_body_one_byte_over_the_cap_is_413_before_it_is_all_read(publisher):
    cap = 1000
    body = sweep_body(json.dumps("x" * (cap - len(sweep_body('""')) + 1)))
    assert len(body) == cap + 1
    headers = signed(body)
    async with serving(fake_app(publisher, ingest_max_body_bytes=cap)) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = [f"POST {URL} HTTP/1.1", f"Host: {host}", "Transfer-Encoding: chunked"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        # Every byte of the body, but not the last chunk: the body is not complete.
        writer.write(f"{len(body):x}\r\n".encode() + body + b"\r\n")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
    assert publisher.published == []


async def test_hmac_sha256_hex_source_github_style(publisher, monkeypatch):
    secret = "a-github-style-secret-of-some-length"
    sources = {
        "github": {
            "scheme": "hmac-sha256-hex",
            "secrets": ["env:ZIXLY_TEST_GH_SECRET"],
            "type_header": "X-GitHub-Event",
            "events": {"sweep": "sweep.requested", "ping": "ignore"},
        }
    }
    body = sweep_body('"gh"').replace(b'"type": "sweep.requested",  ', b"")

    def headers(delivery: str, event: str = "sweep", sig: str | None = None) -> dict[str, str]:
        mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {
            "X-Hub-Signature-256": sig or f"sha256={mac}",
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Event": event,
            "Content-Type": "application/json",
        }

    monkeypatch.setenv("ZIXLY_TEST_GH_SECRET", secret)
    async with http_client(fake_app(publisher, ingest_sources=sources)) as c:
        ok = await c.post("/webhooks/github", content=body, headers=headers("d-1"))
        again = await c.post("/webhooks/github", content=body, headers=headers("d-1"))
        ping = await c.post("/webhooks/github", content=body, headers=headers("d-2", "ping"))
        forged = await c.post(
            "/webhooks/github", content=body, headers=headers("d-3", sig="sha256=" + "0" * 64)
        )
        malformed = await c.post("/webhooks/github", content=body, headers=headers("d-4", sig="sha1=abc"))
        no_id = await c.post(
            "/webhooks/github",
            content=body,
            headers={k: v for k, v in headers("x").items() if k != "X-GitHub-Delivery"},
        )
    assert (ok.status_code, ok.json()["status"]) == (202, "accepted")
    assert (again.status_code, again.json()["status"]) == (202, "duplicate")
    assert (ping.status_code, ping.json()["status"]) == (202, "ignored")
    assert [forged.status_code, malformed.status_code, no_id.status_code] == [401, 401, 400]
    assert len(publisher.of(SWEEPS_REQUESTED)) == 1
    assert publisher.of(WEBHOOKS_RECEIVED)[0].data.headers["x-github-delivery"] == "d-1"


async def test_liveness_answers_while_readiness_reports_what_is_missing():
    app = fake_app(FakeEventPublisher(connected=False))
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        ready = await c.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["retry-after"]
