"""Why a webhook is refused. Each maps to one RFC 9457 problem type at the HTTP edge."""

from __future__ import annotations


class Rejected(Exception):
    """A webhook the service will not accept; nothing of it is published."""


class UnknownSource(Rejected):
    pass


class InvalidSignature(Rejected):
    pass


class MalformedRequest(Rejected):
    pass


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time: the sender should retry (503)."""
