"""AWS through aioboto3: Secrets Manager (webhook secrets) and SQS (webhooks relayed through a queue).

Credentials and region come the usual botocore way (``AWS_*`` variables, IRSA / Pod Identity, instance
profile); ``endpoint_url`` points both clients elsewhere (a moto server in the tests, LocalStack…).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import aioboto3
from botocore.config import Config

from zixly_ingest.domain.errors import TryLater
from zixly_ingest.service_layer.ports import QueuedMessage

_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})


class AwsClients:
    """One session and its clients, opened by ``open()`` and closed by ``close()`` (the lifespan)."""

    def __init__(self, *, endpoint_url: str | None, region: str | None) -> None:
        self._session = aioboto3.Session(region_name=region)
        self._endpoint_url = endpoint_url
        self._stack = contextlib.AsyncExitStack()
        self._clients: dict[str, Any] = {}

    async def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = await self._stack.enter_async_context(
                self._session.client(service, endpoint_url=self._endpoint_url, config=_CONFIG)
            )
        return self._clients[service]

    async def close(self) -> None:
        await self._stack.aclose()
        self._clients.clear()

    async def get_secret(self, secret_id: str) -> str:
        client = await self.client("secretsmanager")
        answer = await client.get_secret_value(SecretId=secret_id)
        value = answer.get("SecretString")
        if value is None:
            raise LookupError("it is a binary secret; store the webhook secrets as a SecretString")
        return str(value)


class SqsQueue:
    """The ``MessageQueue`` of one SQS queue."""

    def __init__(self, clients: AwsClients, queue_url: str) -> None:
        self._clients = clients
        self.url = queue_url

    async def receive(self, max_messages: int, wait_s: int) -> list[QueuedMessage]:
        sqs = await self._clients.client("sqs")
        answer = await sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_s,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
        )
        messages = []
        for m in answer.get("Messages", []):
            attributes = {
                name.lower(): str(value.get("StringValue", ""))
                for name, value in m.get("MessageAttributes", {}).items()
                if value.get("DataType", "String").startswith("String")
            }
            system = m.get("Attributes", {})
            messages.append(
                QueuedMessage(
                    message_id=m["MessageId"],
                    receipt_handle=m["ReceiptHandle"],
                    body=m.get("Body", ""),
                    attributes=attributes,
                    sent_at=int(system.get("SentTimestamp", "0")) / 1000 or None,
                    receive_count=int(system.get("ApproximateReceiveCount", "1")),
                )
            )
        return messages

    async def delete(self, messages: Sequence[QueuedMessage]) -> None:
        if not messages:
            return
        sqs = await self._clients.client("sqs")
        answer = await sqs.delete_message_batch(
            QueueUrl=self.url,
            Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)],
        )
        if answer.get("Failed"):
            raise TryLater(f"SQS did not delete {len(answer['Failed'])} message(s)", 1)

    async def retry_later(self, message: QueuedMessage, delay_s: int) -> None:
        sqs = await self._clients.client("sqs")
        await sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=delay_s
        )
