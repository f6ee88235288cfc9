"""Sources as configuration: the two forms, and secrets refused at start-up with a clear message."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_testkit import SECRET
from pydantic import ValidationError

from zixly_ingest.bootstrap import ConfigurationError, build
from zixly_ingest.config import Settings

GH_SECRET = "a-github-style-secret-of-some-length"


def test_a_secret_without_the_whsec_prefix_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("ZIXLY_WEBHOOK_SECRETS", '{"cli": ["v1,whsec_abc"]}')
    with pytest.raises(ValidationError, match="must look like 'whsec_<base64>'.*drop the 'v1,'"):
        Settings()


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("whsec_not*base64!", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "5 bytes"),
        (" " + SECRET, "whitespace"),
        ("env:", "needs a name"),
    ],
)
def test_malformed_secrets_are_refused_with_what_is_wrong_and_never_the_secret(monkeypatch, secret, says):
    monkeypatch.setenv("ZIXLY_WEBHOOK_SECRETS", json.dumps({"cli": [secret]}))
    with pytest.raises(ValidationError, match=says):
        Settings()


def test_secrets_per_source_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ZIXLY_WEBHOOK_SECRETS", json.dumps({"cli": [SECRET, "env:CLI_SECRET"]}))
    assert Settings().webhook_secrets == {"cli": [SECRET, "env:CLI_SECRET"]}


def test_the_full_form_sets_scheme_limits_rate_and_mapping_with_defaults(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ZIXLY_WEBHOOK_SECRETS", json.dumps({"cli": [SECRET]}))
    monkeypatch.setenv(
        "ZIXLY_INGEST_SOURCES",
        json.dumps(
            {
                "github": {
                    "scheme": "hmac-sha256-hex",
                    "secrets": [GH_SECRET],
                    "type_header": "X-GitHub-Event",
                    "data_field": None,
                    "events": {"sweep": "sweep.requested", "ping": "ignore"},
                    "max_body_bytes": 25_000_000,
                    "rate_per_second": 5,
                }
            }
        ),
    )
    file = tmp_path / "sources.json"
    file.write_text(
        json.dumps({"partner": {"secrets": ["aws-secretsmanager:zixly/partner"], "max_symbols": 3}})
    )
    monkeypatch.setenv("ZIXLY_INGEST_SOURCES_FILE", str(file))
    monkeypatch.setenv("ZIXLY_INGEST_MAX_BACKTESTS_PER_SWEEP", "500")
    sources = Settings().sources()
    assert sorted(sources) == ["cli", "github", "partner"]
    github = sources["github"]
    assert (github.scheme, github.signature_header, github.id_header, github.type_header) == (
        "hmac-sha256-hex",
        "x-hub-signature-256",
        "x-github-delivery",
        "x-github-event",
    )
    assert github.limits.max_body_bytes == 25_000_000
    assert github.limits.max_backtests == 500
    assert (github.rate_per_second, github.rate_burst) == (5, 200)
    assert sources["partner"].limits.max_symbols == 3
    assert sources["cli"].scheme == "standard-webhooks"
    assert sources["cli"].events == {"sweep.requested": "sweep.requested"}


@pytest.mark.parametrize(
    ("sources", "says"),
    [
        ({"x": {"secrets": [SECRET], "signature_header": "x-sig"}}, "standard-webhooks fixes its headers"),
        ({"x": {"secrets": [SECRET], "events": {"ping": "ignore"}}}, "maps no payload type"),
        ({"x": {"scheme": "hmac-sha256-hex", "secrets": ["short"]}}, "at least 16 characters"),
        ({"x": {"secrets": []}}, "at least 1 item"),
        ({"x": {"secrets": [SECRET], "colour": "red"}}, "Extra inputs"),
        ({"Bad Name": {"secrets": [SECRET]}}, "source name"),
    ],
)
def test_inconsistent_sources_are_refused(monkeypatch, sources, says):
    monkeypatch.setenv("ZIXLY_INGEST_SOURCES", json.dumps(sources))
    with pytest.raises(ValidationError, match=says):
        Settings()


def test_a_source_configured_twice_is_refused(monkeypatch):
    monkeypatch.setenv("ZIXLY_WEBHOOK_SECRETS", json.dumps({"cli": [SECRET]}))
    monkeypatch.setenv("ZIXLY_INGEST_SOURCES", json.dumps({"cli": {"secrets": [SECRET]}}))
    with pytest.raises(ValidationError, match="configured twice"):
        Settings()


def test_the_dedupe_store_is_required():
    with pytest.raises(ConfigurationError, match="ZIXLY_DATABASE_URL is required"):
        build(Settings(_env_file=None, webhook_secrets={"cli": [SECRET]}, database_url=None))


def test_the_process_refuses_to_start_with_a_message_and_without_echoing_the_secret():
    leaked = "v1,whsec_" + base64.b64encode(b"s" * 32).decode()
    process = subprocess.run(
        [str(Path(sys.executable).with_name("zixly-ingest"))],
        env={"ZIXLY_WEBHOOK_SECRETS": json.dumps({"cli": [leaked]}), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode != 0
    assert "invalid configuration" in process.stderr
    assert "ZIXLY_WEBHOOK_SECRETS" in process.stderr
    assert "drop the 'v1,'" in process.stderr
    assert leaked.split(",", 1)[1] not in process.stderr + process.stdout
