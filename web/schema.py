"""A small JSON Schema (2020-12 subset) checker: the schemas that document the API
also validate its requests, so the docs and the checks cannot drift apart.

Supported: ``type`` (one or a list), ``properties``, ``required``,
``additionalProperties: false``, ``minLength``, ``maxLength``, ``pattern``
(its ``description`` is the message), ``enum``, ``minimum``, ``maximum``,
``items``, ``maxItems``. Nothing else (no ``oneOf``, no ``$ref`` in request
schemas): keep them simple. Every problem is reported, keyed by the field's
path (``name``, ``items[2].id``).
"""

from __future__ import annotations

import re
from typing import Any

Schema = dict[str, Any]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


def problems(schema: Schema, value: Any, path: str = "") -> dict[str, str]:
    """Field path → what is wrong with it; empty when ``value`` conforms."""
    where = path or "body"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, k) for k in kinds):
            return {where: f"must be {' or '.join(_article(k) for k in kinds)}"}
    if "enum" in schema and value not in schema["enum"]:
        return {where: f"must be one of {', '.join(map(str, schema['enum']))}"}
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return {
                where: "is required"
                if not value
                else f"needs at least {schema['minLength']} characters"
            }
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return {where: f"must have at most {schema['maxLength']} characters"}
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return {where: schema.get("description", "is not in the expected form")}
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            return {where: f"must be at least {schema['minimum']}"}
        if "maximum" in schema and value > schema["maximum"]:
            return {where: f"must be at most {schema['maximum']}"}
    found: dict[str, str] = {}
    if isinstance(value, dict):
        props: dict[str, Schema] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                found[_join(path, name)] = "is required"
        for name, item in value.items():
            if name in props:
                found.update(problems(props[name], item, _join(path, name)))
            elif schema.get("additionalProperties") is False:
                found[_join(path, name)] = "is not a known field"
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return {where: f"may have at most {schema['maxItems']} items"}
        for i, item in enumerate(value):
            if "items" in schema:
                found.update(problems(schema["items"], item, f"{where}[{i}]"))
    return found


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _article(kind: str) -> str:
    return {"object": "an object", "array": "a list", "integer": "an integer"}.get(
        kind, f"a {kind}"
    )


# -- builders that keep the view modules short -----------------------------------------


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with these fields and no others."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


def string(
    description: str = "", *, min_length: int = 1, max_length: int = 200, **extra: Any
) -> Schema:
    out: Schema = {"type": "string", "minLength": min_length, "maxLength": max_length, **extra}
    if description:
        out["description"] = description
    return out


def loose(description: str, **properties: Schema) -> Schema:
    """A response object: documents its fields, allows more later."""
    return {"type": "object", "description": description, "properties": properties}
