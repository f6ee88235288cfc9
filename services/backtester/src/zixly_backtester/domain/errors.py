"""Failures that are facts about the input: the same task would fail the same way on every replica."""

from __future__ import annotations


class DatasetNotFound(KeyError):
    def __str__(self) -> str:
        return f"no dataset named {self.args[0]!r} in the object store"
