"""The secrets of every source: inline, ``env:VARIABLE`` or ``aws-secretsmanager:<secret id>``.

Secrets Manager values are fetched at start-up (a missing or malformed one stops the start with a
message naming the source and the reference, never the value), cached, and refreshed in the background
every ``refresh_s``: a rotation is picked up without a restart. A refresh that fails or yields a
malformed value keeps the previous keys and logs why.

A Secrets Manager value holds one or more secrets (several during a rotation): a JSON array of strings,
a JSON object whose string values are the secrets (the console's key/value form), or plain text with
the secrets separated by whitespace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog

from zixly_ingest.adapters.signatures import InvalidSecret, Key, parse_key
from zixly_ingest.domain.sources import AWS_SECRETS_MANAGER, ENV, Source

log = structlog.get_logger("zixly_ingest.secrets")

FetchSecret = Callable[[str], Awaitable[str]]


class SecretsError(RuntimeError):
    """A source's secrets cannot be used: ingest refuses to start."""


def split_secret_value(value: str) -> list[str]:
    text = value.strip()
    if text.startswith(("[", "{")):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise InvalidSecret("it looks like JSON but does not parse") from None
        items = list(parsed.values()) if isinstance(parsed, dict) else parsed
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise InvalidSecret("as JSON it must be an array of strings or an object of strings")
        return items
    return text.split()


class SecretStore:
    def __init__(
        self,
        sources: Mapping[str, Source],
        *,
        env: Mapping[str, str],
        fetch: FetchSecret | None,
        refresh_s: float = 300.0,
    ) -> None:
        self._sources = dict(sources)
        self._env = env
        self._fetch = fetch
        self._refresh_s = refresh_s
        #: (source, reference) → its keys; inline secrets are their own reference.
        self._keys: dict[tuple[str, str], tuple[Key, ...]] = {}
        self._fingerprints: dict[tuple[str, str], str] = {}
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def has_remote(self) -> bool:
        return any(ref.startswith(AWS_SECRETS_MANAGER) for s in self._sources.values() for ref in s.secrets)

    def keys_of(self, source: str) -> tuple[Key, ...]:
        spec = self._sources[source]
        keys: list[Key] = []
        for ref in spec.secrets:
            keys.extend(self._keys.get((source, ref), ()))
        return tuple(keys)

    async def load(self) -> None:
        """Resolve every secret of every source; raise ``SecretsError`` naming the first bad one."""
        for source in self._sources.values():
            for ref in source.secrets:
                try:
                    await self._store(source, ref)
                except (InvalidSecret, LookupError) as exc:
                    raise SecretsError(
                        f"secret {self._describe(ref)} of source {source.name!r} is unusable: {exc}"
                    ) from None
                except Exception as exc:
                    raise SecretsError(
                        f"secret {self._describe(ref)} of source {source.name!r} could not be fetched: "
                        f"{type(exc).__name__}: {exc}"
                    ) from None
        self._loaded = True

    async def refresh(self) -> None:
        """Fetch every Secrets Manager reference again; keep the old keys of any that fails."""
        for source in self._sources.values():
            for ref in source.secrets:
                if not ref.startswith(AWS_SECRETS_MANAGER):
                    continue
                try:
                    changed = await self._store(source, ref)
                except Exception as exc:
                    log.warning(
                        "secrets.refresh_failed",
                        source=source.name,
                        reference=ref,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    continue
                if changed:
                    log.info("secrets.rotated", source=source.name, reference=ref)

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            await self.refresh()

    async def _store(self, source: Source, ref: str) -> bool:
        values, keys = await self._resolve(source, ref)
        fingerprint = hashlib.sha256("\n".join(values).encode()).hexdigest()
        changed = self._fingerprints.get((source.name, ref)) != fingerprint
        self._keys[(source.name, ref)] = keys
        self._fingerprints[(source.name, ref)] = fingerprint
        return changed

    async def _resolve(self, source: Source, ref: str) -> tuple[Sequence[str], tuple[Key, ...]]:
        if ref.startswith(ENV):
            name = ref[len(ENV) :]
            if name not in self._env:
                raise LookupError(f"the environment variable {name} is not set")
            values: Sequence[str] = split_secret_value(self._env[name])
        elif ref.startswith(AWS_SECRETS_MANAGER):
            if self._fetch is None:
                raise LookupError("no AWS Secrets Manager client is configured")
            values = split_secret_value(await self._fetch(ref[len(AWS_SECRETS_MANAGER) :]))
        else:
            values = [ref]
        if not values:
            raise InvalidSecret("it holds no secret")
        keys = []
        for index, value in enumerate(values, start=1):
            try:
                keys.append(parse_key(source.scheme, value))
            except InvalidSecret as exc:
                where = f"value #{index}: " if len(values) > 1 else ""
                raise InvalidSecret(f"{where}{exc}") from None
        return values, tuple(keys)

    @staticmethod
    def _describe(ref: str) -> str:
        if ref.startswith((ENV, AWS_SECRETS_MANAGER)):
            return repr(ref)
        return "(inline)"
