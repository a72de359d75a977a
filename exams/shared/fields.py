"""Reading settings a person typed (JSON objects) and collecting every problem at once.

A university fills in a whole form; telling it about one mistake at a time
wastes its afternoon. :class:`Fields` reads one object, notes each problem
under the field's path (``materials[1].max_bytes``) and returns ``None`` for a
field it could not read, so later checks skip it instead of piling on.
:meth:`Problems.raise_if_any` then raises one :class:`InvalidInput` whose
``details`` is ``[{"field": ..., "message": ...}, ...]``.
"""

from __future__ import annotations

from typing import Any

from exams.shared.errors import InvalidInput

MAX_TIME = 253_402_300_799  # 9999-12-31 23:59:59 UTC, in Unix seconds: the last a date shows


class Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})

    def has(self, field: str) -> bool:
        return any(item["field"] == field for item in self.items)

    def raise_if_any(self, what: str) -> None:
        if self.items:
            count = len(self.items)
            raise InvalidInput(
                f"{what} has {count} problem{'s' if count > 1 else ''}; fix each field listed",
                details=self.items,
            )


class Fields:
    """One JSON object's fields; every read marks the field as known."""

    def __init__(self, data: Any, problems: Problems, prefix: str = "") -> None:
        self.problems = problems
        self.prefix = prefix
        self._known: set[str] = set()
        self.is_object = isinstance(data, dict)
        if isinstance(data, dict):
            self.data: dict[str, Any] = data
        else:
            problems.add(prefix.rstrip(".") or "(body)", "must be an object with named fields")
            self.data = {}

    def path(self, name: str) -> str:
        return self.prefix + name

    def bad(self, name: str) -> bool:
        return self.problems.has(self.path(name))

    def add(self, name: str, message: str) -> None:
        self.problems.add(self.path(name), message)

    def raw(self, name: str) -> Any:
        self._known.add(name)
        return self.data.get(name)

    def text(self, name: str, *, required: bool = True, max_len: int = 10_000) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                self.add(name, "is required")
                return None
            return ""
        if not isinstance(value, str):
            self.add(name, "must be text")
            return None
        value = value.strip()
        if required and not value:
            self.add(name, "must not be empty")
            return None
        if len(value) > max_len:
            self.add(name, f"must be at most {max_len} characters")
            return None
        return value

    def integer(
        self, name: str, low: int, high: int | None = None, *, default: int | None = None
    ) -> int | None:
        """A whole number in ``low..high``; ``default`` when absent (``None``: required)."""
        value = self.raw(name)
        if value is None:
            if default is None:
                self.add(name, "is required")
            return default
        number = _whole(value)
        if number is None:
            self.add(name, "must be a whole number")
            return None
        if number < low or (high is not None and number > high):
            span = f"from {low} to {high}" if high is not None else f"at least {low}"
            self.add(name, f"must be {span}")
            return None
        return number

    def optional_integer(self, name: str, low: int, high: int, *, none_means: str) -> int | None:
        """A whole number in ``low..high``, or absent/null meaning ``none_means``."""
        value = self.raw(name)
        if value is None:
            return None
        number = _whole(value)
        if number is None or not low <= number <= high:
            self.add(name, f"must be a whole number from {low} to {high}, or null for {none_means}")
            return None
        return number

    def seconds(self, name: str, default: float, maximum: float) -> float | None:
        """A number of seconds from 0 to ``maximum`` (to the millisecond); ``default`` when
        absent."""
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            self.add(name, "must be a number of seconds")
            return None
        if not 0 <= value <= maximum:
            self.add(name, f"must be from 0 to {maximum:g} seconds")
            return None
        return round(float(value), 3)

    def timestamp(self, name: str) -> float | None:
        value = self.raw(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= MAX_TIME  # False for NaN; no float conversion of a huge int
        ):
            self.add(name, "must be a time in Unix seconds")
            return None
        return float(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(name, "must be true or false")
            return default
        return value

    def items(self, name: str) -> list[Any]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(name, "must be a list")
            return []
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self.raw(name)
        if value not in allowed:
            self.add(name, f"must be one of {', '.join(allowed)}")
            return None
        return str(value)

    def reject_unknown(self) -> None:
        for name in sorted(set(self.data) - self._known):
            self.add(name, "is not a setting here; check its spelling")


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
