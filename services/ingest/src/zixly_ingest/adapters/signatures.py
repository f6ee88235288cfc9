"""Standard Webhooks verification with the ``standardwebhooks`` library, one or more secrets per source."""

from __future__ import annotations

import binascii

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from zixly_ingest.domain.errors import InvalidSignature, MalformedRequest


class StandardWebhooksVerifier:
    def __init__(self, secrets: dict[str, list[str]]) -> None:
        self._webhooks = {source: [Webhook(s) for s in values] for source, values in secrets.items()}

    def known_source(self, source: str) -> bool:
        return source in self._webhooks

    def verify(self, source: str, body: str, headers: dict[str, str]) -> None:
        missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not headers.get(h)]
        if missing:
            raise MalformedRequest(f"missing Standard Webhooks header(s): {', '.join(missing)}")
        last_error = "no matching signature found"
        for webhook in self._webhooks[source]:
            try:
                webhook.verify(body, headers, json_parse=False)
                return
            except WebhookVerificationError as exc:
                last_error = str(exc)
            except (ValueError, binascii.Error) as exc:
                raise InvalidSignature(f"malformed webhook-signature header: {exc}") from exc
        raise InvalidSignature(last_error)
