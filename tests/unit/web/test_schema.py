from __future__ import annotations

from web.schema import obj, problems, string


def test_every_bad_field_is_named() -> None:
    schema = obj(
        {"phone": string(max_length=5), "n": {"type": "integer", "minimum": 1}},
        {"kind": {"type": "string", "enum": ["a", "b"]}},
    )
    assert problems(schema, {"phone": "12", "n": 3}) == {}
    assert problems(schema, {"phone": "123456", "n": True, "kind": "c", "x": 1}) == {
        "phone": "must have at most 5 characters",
        "n": "must be an integer",
        "kind": "must be one of a, b",
        "x": "is not a known field",
    }
    assert problems(schema, {}) == {"phone": "is required", "n": "is required"}
    assert problems(schema, []) == {"body": "must be an object"}
    assert problems(schema, {"phone": "", "n": 0}) == {
        "phone": "is required",
        "n": "must be at least 1",
    }


def test_nested_paths_and_patterns() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "maxItems": 2,
                "items": {"type": "string", "pattern": "^a", "description": "starts with a"},
            }
        },
    }
    assert problems(schema, {"items": ["ab", "b"]}) == {"items[1]": "starts with a"}
    assert problems(schema, {"items": ["a", "a", "a"]}) == {"items": "may have at most 2 items"}
