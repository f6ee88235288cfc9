"""Signature schemes, checked over the raw request bytes before anything parses them.

- ``standard-webhooks`` (standardwebhooks.com): ``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` (several, space separated,
  during a rotation), ``whsec_<base64>`` secrets, ±300 s tolerance both ways. The HMAC comes from the
  ``standardwebhooks`` library (``Webhook.sign``); the headers and the timestamp are checked here,
  because the library's ``verify`` reads the wall clock, and a webhook relayed through a queue must be
  checked against the time it was enqueued. Every exception of the library that is not a verification
  failure (a bad secret, a body it cannot sign) is wrapped into a refusal, never a 500.
- ``hmac-sha256-hex`` (GitHub style): ``<signature header>: sha256=<hex HMAC-SHA256 of the body>`` and a
  delivery id header. It signs neither the id nor a timestamp, so replay protection rests on the dedupe
  record alone; prefer Standard Webhooks for senders on the internet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from zixly_ingest.domain.errors import InvalidSignature, MalformedRequest, StaleTimestamp
from zixly_ingest.domain.model import Headers, decode_utf8, one_header, required_header
from zixly_ingest.domain.sources import Scheme, Source, key_problem
from zixly_ingest.service_layer.ports import Verified

TOLERANCE_S = 300
MAX_SIGNATURES = 16
_WEBHOOK_ID = re.compile(r"[\x21-\x7e]{1,256}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class InvalidSecret(ValueError):
    """A configured secret that cannot be used; the message never contains the secret."""


Key = Webhook | bytes


def parse_key(scheme: Scheme, secret: str) -> Key:
    """Turn one configured secret into key material, or refuse it with a clear message."""
    problem = key_problem(scheme, secret)
    if problem:
        raise InvalidSecret(problem)
    if scheme == "hmac-sha256-hex":
        return secret.encode()
    try:
        return Webhook(secret)
    except (EmptyWebhookSecretError, binascii.Error, ValueError, RuntimeError) as exc:
        raise InvalidSecret(f"the standardwebhooks library refuses it ({type(exc).__name__})") from None


class SignatureVerifier:
    """The ``WebhookVerifier`` of every configured source; keys come from ``keys_of`` on each call,
    so a rotation picked up by the secret store applies to the next request."""

    def __init__(self, keys_of: Callable[[str], Sequence[Key]]) -> None:
        self._keys_of = keys_of

    def verify(self, source: Source, raw_body: bytes, headers: Headers, now: float) -> Verified:
        keys = self._keys_of(source.name)
        if source.scheme == "standard-webhooks":
            return _verify_standard(keys, raw_body, headers, now)
        return _verify_hmac_hex(source, keys, raw_body, headers)


def _require(headers: Headers, name: str) -> str:
    return required_header(one_header(headers, name), name)


def _verify_standard(keys: Sequence[Key], raw_body: bytes, headers: Headers, now: float) -> Verified:
    webhook_id = _require(headers, "webhook-id")
    timestamp = _require(headers, "webhook-timestamp")
    signature_header = _require(headers, "webhook-signature")
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise MalformedRequest("webhook-id must be 1 to 256 printable ASCII characters without spaces")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise MalformedRequest("webhook-timestamp must be whole seconds since the Unix epoch")
    signed_at = int(timestamp)
    # The header has whole seconds, so the receiver's clock is read to the whole second too: the skew is
    # an exact integer, the tolerance applies to it, and the message states it as it is.
    skew = signed_at - math.floor(now)
    if skew > TOLERANCE_S:
        raise StaleTimestamp(
            f"webhook-timestamp is {skew} s ahead of the receiver's clock (tolerance ±{TOLERANCE_S} s); "
            "check the sender's clock and sign with the current time"
        )
    if -skew > TOLERANCE_S:
        raise StaleTimestamp(
            f"webhook-timestamp is {-skew} s old (tolerance ±{TOLERANCE_S} s); "
            "re-sign each delivery, retries included, with the current time"
        )
    offered = _offered_v1_signatures(signature_header)
    body = decode_utf8(raw_body)
    at = datetime.fromtimestamp(signed_at, UTC)
    for key in keys:
        assert isinstance(key, Webhook)
        try:
            expected = base64.b64decode(key.sign(webhook_id, at, body).split(",", 1)[1])
        except (WebhookVerificationError, ValueError, binascii.Error, UnicodeError) as exc:
            raise InvalidSignature(f"the request cannot be verified ({type(exc).__name__})") from None
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return Verified(webhook_id=webhook_id, body=body)
    raise InvalidSignature(
        "no v1 signature matches a current secret of this source; sign "
        "'<webhook-id>.<webhook-timestamp>.<raw body>' with HMAC-SHA256 and send 'v1,<base64>'"
    )


def _offered_v1_signatures(header: str) -> list[bytes]:
    entries = header.split()
    if len(entries) > MAX_SIGNATURES:
        raise InvalidSignature(f"webhook-signature lists more than {MAX_SIGNATURES} signatures")
    offered: list[bytes] = []
    for entry in entries:
        version, comma, value = entry.partition(",")
        if not comma or not version:
            raise InvalidSignature(
                "webhook-signature is malformed: each signature is '<version>,<base64>', space separated"
            )
        if version != "v1":
            continue  # other versions (v1a: asymmetric) are not configured here
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSignature("webhook-signature is malformed: a v1 signature is not base64") from None
        offered.append(decoded)
    if not offered:
        raise InvalidSignature("webhook-signature has no v1 signature")
    return offered


def _verify_hmac_hex(source: Source, keys: Sequence[Key], raw_body: bytes, headers: Headers) -> Verified:
    webhook_id = _require(headers, source.id_header)
    signature = _require(headers, source.signature_header)
    type_from_header = one_header(headers, source.type_header) if source.type_header else None
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise MalformedRequest(
            f"{source.id_header} must be 1 to 256 printable ASCII characters without spaces"
        )
    if not signature.startswith(source.signature_prefix) or not _HEX_SHA256.fullmatch(
        signature[len(source.signature_prefix) :]
    ):
        raise InvalidSignature(
            f"{source.signature_header} is malformed: send '{source.signature_prefix}<64 hex digits>'"
        )
    offered = bytes.fromhex(signature[len(source.signature_prefix) :])
    for key in keys:
        assert isinstance(key, bytes)
        if hmac.compare_digest(hmac.new(key, raw_body, hashlib.sha256).digest(), offered):
            return Verified(
                webhook_id=webhook_id, body=decode_utf8(raw_body), type_from_header=type_from_header
            )
    raise InvalidSignature(
        f"{source.signature_header} does not match a current secret of this source; "
        "sign the raw body with HMAC-SHA256 and send it as hex"
    )
