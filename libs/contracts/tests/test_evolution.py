"""Schema evolution: every stored version stays readable, and each new version accepts the old ones."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from zixly_contracts.compatibility import problems
from zixly_contracts.envelope import REGISTRY, UPCASTERS, decode, encode, envelope
from zixly_contracts.events import BacktestBatchCompleted, BacktestResult
from zixly_contracts.metrics import Metrics

SCHEMAS = Path(__file__).parents[1] / "schemas"
COMPLETED = "com.zixly.backtest.batch.completed"


def stored() -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for path in sorted(SCHEMAS.glob("*/v*.json")):
        out.setdefault(path.parent.name, {})[int(path.stem[1:])] = json.loads(path.read_text())
    return out


@pytest.mark.parametrize("name", sorted(stored()))
def test_each_version_accepts_every_earlier_version(name):
    """Transitively: v3 must accept v1 documents too, not only v2 ones."""
    versions = stored()[name]
    assert sorted(versions) == list(range(1, max(versions) + 1)), f"{name}: a stored version is missing"
    assert max(versions) == REGISTRY[name].version
    for later in versions:
        for earlier in range(1, later):
            assert problems(versions[earlier], versions[later]) == [], f"{name} v{later} breaks v{earlier}"


def test_every_older_version_has_an_upcaster():
    for name, entry in REGISTRY.items():
        for version in range(1, entry.version):
            assert (name, version) in UPCASTERS, f"no upcaster for {name} v{version}"


def completed_v2() -> BacktestBatchCompleted:
    return BacktestBatchCompleted(
        task_id="t1",
        sweep_id="s1",
        dataset="GOOG_1d",
        strategy="sma_cross",
        batch_index=0,
        results=[
            BacktestResult(
                params={"fast": 10, "slow": 20}, metrics=Metrics(total_return=0.5, final_equity=1.5)
            )
        ],
        artifact_uri="file:///x.parquet",
        definitions={"fill": "close"},
        bars=10,
        duration_ms=12.5,
        worker="host-a:12",
        engine_ms=3.0,
    )


def as_v1(raw: bytes) -> bytes:
    """The same event as a v1 writer would have put it on the topic."""
    doc = json.loads(raw)
    doc["schema_version"] = 1
    for field in ("worker", "engine_ms"):
        doc["data"].pop(field)
    return json.dumps(doc).encode()


def test_a_v1_event_is_upcast_to_the_current_version():
    v2 = envelope(completed_v2(), id="e1", source="/t", subject="s1", correlation_id="w")
    back = decode(as_v1(encode(v2)))
    assert back.schema_version == 2
    assert back.data.worker is None
    assert back.data.engine_ms is None
    assert back.data.results == v2.data.results
    assert back.data.duration_ms == 12.5


def test_a_v1_document_validates_against_the_v2_schema():
    v1_data = json.loads(
        as_v1(encode(envelope(completed_v2(), id="e", source="/t", subject="s", correlation_id="w")))
    )
    jsonschema.validate(v1_data["data"], stored()[COMPLETED][2])
    jsonschema.validate(v1_data["data"], stored()[COMPLETED][1])


OLD = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "a": {"type": "integer"},
        "b": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "c": {"enum": ["x", "y"]},
    },
    "required": ["a"],
}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"required": ["a", "b"]}, "required now"),
        (
            {"properties": {**OLD["properties"], "a": {"type": "string"}}},
            "type ['integer'] became ['string']",
        ),
        ({"properties": {**OLD["properties"], "b": {"type": "string"}}}, "type ['null'] became"),
        ({"properties": {**OLD["properties"], "c": {"enum": ["x"]}}}, "allowed values narrowed"),
        ({"properties": {k: v for k, v in OLD["properties"].items() if k != "c"}}, "removed"),
        ({"properties": {**OLD["properties"], "a": {"type": "integer", "minimum": 1}}}, "minimum tightened"),
    ],
)
def test_the_checker_finds_breaking_changes(change, complaint):
    found = problems(OLD, {**OLD, **change})
    assert any(complaint in p for p in found), found


@pytest.mark.parametrize(
    "change",
    [
        {"properties": {**OLD["properties"], "d": {"type": "number", "default": 0}}},  # new optional field
        {"properties": {**OLD["properties"], "a": {"type": "number"}}},  # integer widened to number
        {"properties": {**OLD["properties"], "c": {"enum": ["x", "y", "z"]}}},  # more values
        {"required": []},
    ],
)
def test_the_checker_accepts_compatible_changes(change):
    assert problems(OLD, {**OLD, **change}) == []
