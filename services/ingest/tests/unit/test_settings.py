import pytest
from pydantic import ValidationError

from zixly_ingest.config import Settings


def test_a_secret_without_the_whsec_prefix_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("ZIXLY_WEBHOOK_SECRETS", '{"cli": ["v1,whsec_abc"]}')
    with pytest.raises(ValidationError, match="must look like 'whsec_<base64>'"):
        Settings()


def test_secrets_per_source_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ZIXLY_WEBHOOK_SECRETS", '{"cli": ["whsec_a", "whsec_b"]}')
    assert Settings().webhook_secrets == {"cli": ["whsec_a", "whsec_b"]}
