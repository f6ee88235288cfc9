"""Where a client command sends its requests: the flag, else the environment variable, else the running
local stack (``$ZIXLY_HOME/stack.json``), else the built-in default."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from zixly.stack_file import read_stack_file, stack_file, stack_home


@dataclass(frozen=True)
class Address:
    """One thing a client talks to: its key in the stack file, its variable, its flag, its default."""

    key: str
    variable: str
    flag: str
    default: Callable[[], str]


@dataclass(frozen=True)
class Chosen:
    value: str
    origin: str


def _default_database_url() -> str:
    from zixly_aggregator.config import Settings

    return str(Settings.model_fields["database_url"].default)


INGEST = Address("ingest_url", "ZIXLY_INGEST_URL", "--url", lambda: "http://127.0.0.1:8080")
DASHBOARD = Address("dashboard_url", "ZIXLY_DASHBOARD_URL", "--dashboard", lambda: "http://127.0.0.1:8000")
BROKER = Address(
    "bootstrap_servers", "ZIXLY_KAFKA_BOOTSTRAP_SERVERS", "--bootstrap", lambda: "127.0.0.1:9092"
)
DATABASE = Address("database_url", "ZIXLY_DATABASE_URL", "--database-url", _default_database_url)


def choose(address: Address, given: str | None) -> Chosen:
    """The value to use for ``address`` and where it came from, in words."""
    if given:
        return Chosen(given, address.flag)
    if configured := os.environ.get(address.variable):
        return Chosen(configured, address.variable)
    home = stack_home()
    if written := read_stack_file(home).get(address.key):
        return Chosen(str(written), f"the local stack's, from {stack_file(home)}")
    return Chosen(address.default(), f"the default: no {address.flag}, {address.variable} or local stack")
