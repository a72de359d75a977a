"""A candidate's file name: shown to people, used for its extension, never as a path.

Files are stored under names the server makes (ASVS 5.3.2). The name a
browser sends is the file's own name (``File.name`` never holds a folder), so
one with a folder separator, a control character or nothing but dots is
refused rather than cleaned: it was not sent by a page of ours.
"""

from __future__ import annotations

import re
import unicodedata

from exams.errors import InvalidInput, UnsupportedMediaType
from exams.questions import normalise_format

NAME_MAX = 255
_FORMAT = re.compile(r"[a-z0-9]{1,10}")


def checked_name(name: str) -> str:
    """The file name as sent, if it is a plain file name; else :class:`InvalidInput`."""
    bad = (
        not name
        or len(name) > NAME_MAX
        or "/" in name
        or "\\" in name
        or name.strip(". ") == ""
        or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name)
    )
    if bad:
        raise InvalidInput(
            "send the file's own name (e.g. 演奏.mp4): without folders or control characters, "
            f"at most {NAME_MAX} characters",
            {"fields": {"filename": "must be a plain file name"}},
        )
    return name


def file_format(name: str, allowed: tuple[str, ...]) -> str:
    """The format a file name claims (its extension), if the question accepts it."""
    fmt = normalise_format(name.rsplit(".", 1)[-1]) if "." in name else ""
    if not _FORMAT.fullmatch(fmt):
        raise InvalidInput(
            "name the file with its extension (e.g. answer.mp4)",
            {"fields": {"name": "must end in a file extension such as .mp4"}},
        )
    if fmt not in allowed:
        raise UnsupportedMediaType(
            f"the .{fmt} format is not accepted here; use one of {', '.join(allowed)}",
            {"formats": list(allowed)},
        )
    return fmt
