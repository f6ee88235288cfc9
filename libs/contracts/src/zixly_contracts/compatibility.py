"""Is a new JSON Schema backward compatible with an old one: does it accept every document the old one did?

That is what a schema change must keep (README.md, "Replay and schema evolution"): topics are replayed
from the start, so the current reader meets documents of every earlier version. The check is structural
over the subset of JSON Schema that pydantic emits (``$ref``/``$defs``, ``anyOf``, ``type``,
``enum``/``const``, objects, arrays and the usual bounds). :func:`problems` lists what breaks; an empty
list means compatible.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def problems(old: Schema, new: Schema) -> list[str]:
    """What an ``old`` document could contain that ``new`` rejects."""
    return _Checker(old, new).compare(old, new, "$")


class _Checker:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.seen: set[tuple[str, str, str]] = set()

    @staticmethod
    def _resolve(root: Schema, node: Schema) -> Schema:
        while "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/$defs/"):
                raise ValueError(f"unsupported $ref {ref!r}")
            rest = {k: v for k, v in node.items() if k != "$ref"}
            node = {**root["$defs"][ref.removeprefix("#/$defs/")], **rest}
        return node

    def compare(self, old: Schema, new: Schema, path: str) -> list[str]:
        key = (path, str(old.get("$ref")), str(new.get("$ref")))
        if "$ref" in old and "$ref" in new:
            if key in self.seen:
                return []
            self.seen.add(key)
        old = self._resolve(self.old_root, old)
        new = self._resolve(self.new_root, new)
        if not _constraining(new):
            return []
        old_variants = old.get("anyOf") or old.get("oneOf")
        if old_variants:
            rest = {k: v for k, v in old.items() if k not in ("anyOf", "oneOf")}
            found: list[str] = []
            for i, variant in enumerate(old_variants):
                found += self.compare({**rest, **variant}, new, f"{path}|{i}")
            return found
        new_variants = new.get("anyOf") or new.get("oneOf")
        if new_variants:
            rest = {k: v for k, v in new.items() if k not in ("anyOf", "oneOf")}
            attempts = [self.compare(old, {**rest, **variant}, path) for variant in new_variants]
            if any(not a for a in attempts):
                return []
            return [f"{path}: no alternative of the new schema accepts {_describe(old)}"]
        return self._compare_plain(old, new, path)

    def _compare_plain(self, old: Schema, new: Schema, path: str) -> list[str]:
        found: list[str] = []
        old_types, new_types = _types(old), _types(new)
        if new_types is not None:
            if old_types is None:
                found.append(f"{path}: the new schema restricts the type to {sorted(new_types)}")
            else:
                widened = new_types | ({"integer"} if "number" in new_types else set())
                if not old_types <= widened:
                    found.append(f"{path}: type {sorted(old_types)} became {sorted(new_types)}")
        old_values = _values(old)
        new_values = _values(new)
        if new_values is not None and (old_values is None or not old_values <= new_values):
            found.append(f"{path}: allowed values narrowed to {sorted(map(repr, new_values))}")
        for bound in _LOWER_BOUNDS:
            if bound in new and (bound not in old or new[bound] > old[bound]):
                found.append(f"{path}: {bound} tightened to {new[bound]}")
        for bound in _UPPER_BOUNDS:
            if bound in new and (bound not in old or new[bound] < old[bound]):
                found.append(f"{path}: {bound} tightened to {new[bound]}")
        for exact in ("pattern", "format"):
            if exact in new and new[exact] != old.get(exact):
                found.append(f"{path}: {exact} changed to {new[exact]!r}")
        if "properties" in old or "properties" in new or "required" in new:
            found += self._compare_object(old, new, path)
        if "items" in new:
            found += self.compare(old.get("items", {}), new["items"], f"{path}[]")
        return found

    def _compare_object(self, old: Schema, new: Schema, path: str) -> list[str]:
        found = []
        old_props: dict[str, Schema] = old.get("properties", {})
        new_props: dict[str, Schema] = new.get("properties", {})
        new_extra = new.get("additionalProperties", True)
        old_extra = old.get("additionalProperties", True)
        for name, schema in old_props.items():
            if name in new_props:
                found += self.compare(schema, new_props[name], f"{path}.{name}")
            elif new_extra is False:
                found.append(f"{path}.{name}: removed, and the new schema allows no other properties")
            elif isinstance(new_extra, dict):
                found += self.compare(schema, new_extra, f"{path}.{name}")
        for name in set(new.get("required", [])) - set(old.get("required", [])):
            found.append(f"{path}.{name}: required now, and older documents may lack it")
        if old_extra is not False:
            if new_extra is False:
                found.append(f"{path}: additional properties are no longer allowed")
            elif isinstance(new_extra, dict):
                found += self.compare(
                    old_extra if isinstance(old_extra, dict) else {}, new_extra, f"{path}.*"
                )
        return found


def _constraining(schema: Schema) -> bool:
    ignored = {"title", "description", "default", "examples", "$defs", "deprecated"}
    return any(k not in ignored for k in schema)


def _types(schema: Schema) -> set[str] | None:
    if "type" in schema:
        value = schema["type"]
        return set(value) if isinstance(value, list) else {value}
    if "const" in schema:
        return {_json_type(schema["const"])}
    if "enum" in schema:
        return {_json_type(v) for v in schema["enum"]}
    return None


def _values(schema: Schema) -> set[Any] | None:
    if "const" in schema:
        return {_hashable(schema["const"])}
    if "enum" in schema:
        return {_hashable(v) for v in schema["enum"]}
    return None


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, dict | list) else value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _describe(schema: Schema) -> str:
    types = _types(schema)
    return f"type {sorted(types)}" if types else "it"
