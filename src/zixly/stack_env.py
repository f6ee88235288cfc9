"""The local stack's settings from ``ZIXLY_*`` variables, each checked before anything starts."""

from __future__ import annotations

import os


class ConfigurationError(Exception):
    """A ``ZIXLY_*`` variable holds something the stack cannot run with; the message names it."""


def port_from_env(variable: str) -> int | None:
    """The port in ``variable`` (1-65535), None when it is unset or empty."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    if not value.isdecimal() or not 1 <= int(value) <= 65535:
        raise ConfigurationError(f"{variable} must be a port number from 1 to 65535, not {value!r}")
    return int(value)


def replicas_from_env(variable: str = "ZIXLY_BACKTESTER_REPLICAS", default: int = 1) -> int:
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    if not value.isdecimal() or int(value) < 1:
        raise ConfigurationError(
            f"{variable} must be a whole number of at least 1 (the backtester also plans sweeps), "
            f"not {value!r}"
        )
    return int(value)


def webhook_secret_from_env(variable: str = "ZIXLY_WEBHOOK_SECRET") -> str | None:
    """The CLI source's secret from ``variable``, checked the way ingest checks it; None when unset."""
    from zixly_ingest.domain.sources import MIN_WHSEC_BYTES, key_problem

    secret = os.environ.get(variable)
    if not secret:
        return None
    if problem := key_problem("standard-webhooks", secret):
        raise ConfigurationError(
            f"{variable}: {problem}; expected 'whsec_' followed by the base64 of a key of at least "
            f"{MIN_WHSEC_BYTES} bytes"
        )
    return secret
