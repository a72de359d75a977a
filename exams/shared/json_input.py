"""JSON from outside (an HTTP body, a Socket.IO message), read within bounds.

``json.loads`` accepts things the rest of the server cannot handle: nesting
deep enough to exhaust the interpreter's stack (``RecursionError``), lone
surrogates (``"\\ud800"``: a ``str`` that cannot be encoded to UTF-8, so
SQLite and every ``.encode()`` fail on it), integers of hundreds of digits
(no float or time can hold them) and ``NaN``/``Infinity``. :func:`loads`
refuses each with :class:`InvalidInput` naming the problem, never with
Python's own exception text.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from exams.shared.errors import InvalidInput

MAX_DEPTH = 32  # arrays and objects inside each other; our messages use 4 at most
MAX_INTEGER = 2**53 - 1  # the largest integer every JSON reader holds exactly (RFC 8259 §6)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_OUT_OF_RANGE = f"has a number outside -{MAX_INTEGER}..{MAX_INTEGER}"
_NOT_UNICODE = "has text that is not valid Unicode (a lone surrogate such as \\ud800)"


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _constant(name: str) -> float:
    raise _Refused(f"has {name}, which JSON does not allow")


def loads(raw: str | bytes, what: str = "the body") -> Any:
    """The JSON value of ``raw`` (UTF-8 bytes or text), or :class:`InvalidInput`."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{what} is not UTF-8 text") from exc
    try:
        value = json.loads(raw, parse_constant=_constant)
    except _Refused as exc:
        raise InvalidInput(f"{what} {exc.message}") from None
    except RecursionError:
        raise InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError:  # an integer of more than 4300 digits (sys.get_int_max_str_digits)
        raise InvalidInput(f"{what} {_OUT_OF_RANGE}") from None
    # A surrogate can only come from a \u escape (or from text that was never UTF-8).
    check(value, what, text=bool(_SURROGATE.search(raw) or _ESCAPED_SURROGATE.search(raw)))
    return value


def check(value: Any, what: str = "the body", *, text: bool = True) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH`, numbers no reader holds exactly and
    (``text``) strings that are not valid Unicode."""
    stack: list[tuple[Any, int]] = [([value], 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            if text and any(_SURROGATE.search(key) for key in item):
                raise InvalidInput(f"{what} {_NOT_UNICODE}")
            item = item.values()
        for v in item:
            kind = type(v)
            if kind is str:
                if text and _SURROGATE.search(v):
                    raise InvalidInput(f"{what} {_NOT_UNICODE}")
            elif kind is int:
                if not -MAX_INTEGER <= v <= MAX_INTEGER:
                    raise InvalidInput(f"{what} {_OUT_OF_RANGE}")
            elif kind is float:
                if not math.isfinite(v):
                    raise InvalidInput(f"{what} {_OUT_OF_RANGE}")
            elif kind is dict or kind is list:
                stack.append((v, depth + 1))
