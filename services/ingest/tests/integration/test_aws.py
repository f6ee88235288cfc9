"""AWS, spoken to for real: Secrets Manager (secrets, rotation) and SQS (a second way in), served by
moto's server on a loopback port; Kafka (Tansu) and PostgreSQL are real where events are counted."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from ingest_testkit import (
    SECRET,
    SOURCE,
    FakeDedupeStore,
    FakeEventPublisher,
    asgi_client,
    correlated,
    events_on,
    new_id,
    payload,
    serving,
    settings,
    signed,
)
from moto.server import ThreadedMotoServer

from zixly.infrastructure import free_port
from zixly_contracts.topics import SWEEPS_REQUESTED, WEBHOOKS_RECEIVED
from zixly_ingest.adapters.secrets import SecretsError
from zixly_ingest.bootstrap import Overrides, build

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
URL = f"/webhooks/{SOURCE}"
NEW_SECRET = "whsec_" + base64.b64encode(b"n" * 32).decode()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.delenv("AWS_PROFILE", raising=False)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


async def until(condition, timeout_s: float = 20.0, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every_s)


# --- Secrets Manager -------------------------------------------------------------------------------


def secrets_app(moto_endpoint: str, reference: str, **values: Any):
    return build(
        settings(
            webhook_secrets={},
            ingest_sources={SOURCE: {"secrets": [f"aws-secretsmanager:{reference}"]}},
            ingest_aws_endpoint_url=moto_endpoint,
            ingest_secrets_refresh_s=0.3,
            **values,
        ),
        Overrides(publisher=FakeEventPublisher(), dedupe=FakeDedupeStore()),
    )


async def test_a_rotation_in_secrets_manager_is_picked_up_without_a_restart(moto_endpoint: str) -> None:
    name = f"zixly/{new_id()}"
    sm = aws("secretsmanager", moto_endpoint)
    sm.create_secret(Name=name, SecretString=json.dumps([SECRET]))

    async def status(secret: str) -> int:
        body = payload()
        response = await client.post(
            URL, content=body, headers=signed(body, secret=secret, webhook_id=new_id())
        )
        return response.status_code

    async with asgi_client(secrets_app(moto_endpoint, name)) as client:
        assert await status(SECRET) == 202
        assert await status(NEW_SECRET) == 401
        # Rotation, step 1: both secrets are valid while senders switch.
        await asyncio.to_thread(
            sm.put_secret_value, SecretId=name, SecretString=json.dumps([SECRET, NEW_SECRET])
        )

        async def new_one_works() -> bool:
            return await status(NEW_SECRET) == 202

        await until(new_one_works, timeout_s=10)
        assert await status(SECRET) == 202
        # Step 2: the old one is retired (the console's key/value form this time).
        await asyncio.to_thread(
            sm.put_secret_value, SecretId=name, SecretString=json.dumps({"current": NEW_SECRET})
        )

        async def old_one_refused() -> bool:
            return await status(SECRET) == 401

        await until(old_one_refused, timeout_s=10)
        # A malformed rotation is ignored (logged): the last good keys stay.
        await asyncio.to_thread(sm.put_secret_value, SecretId=name, SecretString="v1,whsec_broken")
        await asyncio.sleep(1.0)
        assert await status(NEW_SECRET) == 202


@pytest.mark.parametrize(
    ("value", "says"),
    [("v1," + SECRET, "drop the 'v1,'"), ("[1, 2]", "array of strings"), (None, "ResourceNotFoundException")],
)
async def test_an_unusable_secret_in_secrets_manager_stops_the_start_with_a_message(
    moto_endpoint: str, value: str | None, says: str
) -> None:
    name = f"zixly/{new_id()}"
    if value is not None:
        aws("secretsmanager", moto_endpoint).create_secret(Name=name, SecretString=value)
    app = secrets_app(moto_endpoint, name)
    with pytest.raises(SecretsError, match=says) as refused:
        async with app.router.lifespan_context(app):
            pass
    message = str(refused.value)
    assert f"aws-secretsmanager:{name}" in message
    assert SOURCE in message
    assert SECRET.removeprefix("whsec_") not in message


# --- SQS -------------------------------------------------------------------------------------------


def make_queue(moto_endpoint: str, *, max_receives: int = 3) -> tuple[str, str]:
    sqs = aws("sqs", moto_endpoint)
    suffix = new_id()
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=f"webhooks-{suffix}",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}
            ),
        },
    )["QueueUrl"]
    return queue, dlq


def relay(
    moto_endpoint: str, queue: str, body: bytes, headers: dict[str, str], *, as_base64: bool = False
) -> None:
    """What a relay does: the raw body as the message, the HTTP headers as message attributes."""
    attributes = {name: {"DataType": "String", "StringValue": value} for name, value in headers.items()}
    if as_base64:
        attributes["body-encoding"] = {"DataType": "String", "StringValue": "base64"}
    aws("sqs", moto_endpoint).send_message(
        QueueUrl=queue,
        MessageBody=base64.b64encode(body).decode() if as_base64 else body.decode(),
        MessageAttributes=attributes,
    )


def messages_in(moto_endpoint: str, queue: str) -> int:
    attributes = aws("sqs", moto_endpoint).get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


async def test_webhooks_relayed_through_sqs_are_verified_deduped_published_once_and_deleted(
    moto_endpoint: str, kafka_bootstrap: str, database_url: str
) -> None:
    queue, dlq = make_queue(moto_endpoint)
    plain, encoded, both_ways, forged = new_id(), new_id(), new_id(), new_id()
    body = payload()
    relay(moto_endpoint, queue, body, signed(body, webhook_id=plain))
    relay(moto_endpoint, queue, body, signed(body, webhook_id=plain, at=time.time() - 60))  # a redelivery
    relay(moto_endpoint, queue, body, signed(body, webhook_id=encoded), as_base64=True)
    relay(moto_endpoint, queue, body, signed(body, webhook_id=both_ways))
    relay(moto_endpoint, queue, body, {**signed(body, webhook_id=forged), "webhook-signature": "v1,AAAA"})
    app = build(
        settings(
            kafka_bootstrap_servers=kafka_bootstrap,
            database_url=database_url,
            ingest_aws_endpoint_url=moto_endpoint,
            ingest_sqs_queues={SOURCE: queue},
            ingest_sqs_wait_s=1,
        )
    )
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        # The same webhook also arrives over HTTP: one event all the same.
        for _ in range(100):
            answer = await client.post(URL, content=body, headers=signed(body, webhook_id=both_ways))
            if answer.status_code == 202:
                break
            await asyncio.sleep(0.2)
        assert answer.status_code == 202, answer.text

        async def drained() -> bool:
            return (
                await asyncio.to_thread(messages_in, moto_endpoint, queue) == 0
                and await asyncio.to_thread(messages_in, moto_endpoint, dlq) == 1
            )

        await until(drained, timeout_s=30)
    requested = await events_on(kafka_bootstrap, SWEEPS_REQUESTED)
    received = await events_on(kafka_bootstrap, WEBHOOKS_RECEIVED)
    for webhook_id in (plain, encoded, both_ways):
        assert len(correlated(requested, webhook_id)) == 1, webhook_id
        assert len(correlated(received, webhook_id)) == 1, webhook_id
    assert correlated(requested, forged) == []
    [dead] = aws("sqs", moto_endpoint).receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert dead["MessageAttributes"]["webhook-id"]["StringValue"] == forged


async def test_an_sqs_message_is_deleted_only_after_its_event_is_published(moto_endpoint: str) -> None:
    queue, _ = make_queue(moto_endpoint, max_receives=100)
    webhook_id, body = new_id(), payload()
    relay(moto_endpoint, queue, body, signed(body, webhook_id=webhook_id))
    publisher = FakeEventPublisher(fail=True)
    app = build(
        settings(
            ingest_aws_endpoint_url=moto_endpoint,
            ingest_sqs_queues={SOURCE: queue},
            ingest_sqs_wait_s=1,
            ingest_retry_after_s=1,
        ),
        Overrides(publisher=publisher, dedupe=FakeDedupeStore()),
    )
    async with asgi_client(app):
        await asyncio.sleep(3.0)  # several attempts, each refused by the broker
        assert await asyncio.to_thread(messages_in, moto_endpoint, queue) == 1
        assert publisher.published == []
        publisher.fail = False

        async def gone() -> bool:
            return await asyncio.to_thread(messages_in, moto_endpoint, queue) == 0

        await until(gone, timeout_s=20)
    assert [out.event.correlation_id for out in publisher.published] == [webhook_id, webhook_id]
