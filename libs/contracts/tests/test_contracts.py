import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from zixly_contracts import ids
from zixly_contracts.envelope import UndecodableMessage, decode, encode, envelope
from zixly_contracts.events import SweepFailed, SweepRequested
from zixly_contracts.schema_export import current_schemas
from zixly_contracts.sweep_spec import SweepSpec
from zixly_contracts.topics import BACKTESTS_TASKS, all_topics

SCHEMAS = Path(__file__).parents[1] / "schemas"


def test_ids_are_deterministic_and_distinct():
    assert ids.sweep_id("cli", "msg_1") == ids.sweep_id("cli", "msg_1")
    assert ids.sweep_id("cli", "msg_1") != ids.sweep_id("other", "msg_1")
    a = ids.task_id("s", "GOOG_1d", "sma_cross", 0)
    assert a != ids.task_id("s", "GOOG_1d", "sma_cross", 1)
    assert ids.event_id(a, "result") == ids.event_id(a, "result")


def test_envelope_round_trip_keeps_every_attribute():
    spec = SweepSpec.model_validate(
        {
            "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
            "strategies": [{"name": "buy_and_hold"}],
        }
    )
    event = envelope(
        SweepRequested(sweep_id="s1", source="cli", webhook_id="w1", spec=spec),
        id="e1",
        source="/ingest",
        subject="s1",
        correlation_id="w1",
        causation_id="w1",
        time=datetime(2026, 1, 2, tzinfo=UTC),
    )
    back = decode(encode(event))
    assert back == event
    assert back.type == "com.zixly.sweep.requested"
    assert back.schema_version == 1
    assert back.data.spec.datasets[0].symbol == "GOOG_1d"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not a CloudEvents envelope"),
        (b'{"id": "x"}', "not a CloudEvents envelope"),
        # a known type and version but no envelope around it
        (b'{"type": "com.zixly.sweep.failed", "schema_version": 1}', "not a CloudEvents envelope"),
    ],
)
def test_decode_rejects_poison(raw, reason):
    with pytest.raises(UndecodableMessage, match=reason):
        decode(raw)


def test_decode_rejects_unknown_type_and_future_version():
    good = json.loads(
        encode(
            envelope(
                SweepFailed(sweep_id="s", reason="r"), id="1", source="t", subject="s", correlation_id="w"
            )
        )
    )
    with pytest.raises(UndecodableMessage, match="unknown event type"):
        decode(json.dumps({**good, "type": "com.zixly.nope"}))
    with pytest.raises(UndecodableMessage, match="newer than this reader"):
        decode(json.dumps({**good, "schema_version": 99}))
    with pytest.raises(UndecodableMessage, match="invalid com.zixly.sweep.failed"):
        decode(json.dumps({**good, "data": {"sweep_id": "s"}}))


def test_stored_schemas_match_the_current_models():
    """Changing a model without a new schema_version (and its stored schema) fails here."""
    for (name, version), schema in current_schemas().items():
        stored = SCHEMAS / name / f"v{version}.json"
        assert stored.exists(), f"run `zixly-contracts export-schemas libs/contracts/schemas` for {name}"
        assert json.loads(stored.read_text()) == schema, f"{name} v{version} changed without a new version"


def test_task_topic_has_a_partition_per_max_replica():
    partitions = {t.name: t.partitions for t in all_topics()}
    assert partitions[BACKTESTS_TASKS] == 32
    assert partitions[BACKTESTS_TASKS + ".dlq"] == 1
    assert len(partitions) == 15


def test_sweep_spec_rejects_code_in_constraints():
    with pytest.raises(ValueError, match="op"):
        SweepSpec.model_validate(
            {
                "datasets": [{"symbol": "X", "periods_per_year": 252}],
                "strategies": [
                    {"name": "sma_cross", "constraints": [{"left": "fast", "op": "__import__", "right": 1}]}
                ],
            }
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"execution": {"cash": float("inf")}}, "execution.cash"),
        (
            {
                "strategies": [
                    {"name": "sma_cross", "grid": {"fast": {"start": 1, "stop": float("nan"), "step": 1}}}
                ]
            },
            "stop",
        ),
        ({"name": "nul\u0000name"}, "control characters"),
    ],
)
def test_sweep_spec_refuses_values_no_sweep_can_use(change, field):
    base = {
        "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
        "strategies": [{"name": "sma_cross"}],
    }
    with pytest.raises(ValueError, match=field):
        SweepSpec.model_validate({**base, **change})
