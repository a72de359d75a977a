"""A candidate's file name: shown to people, used for its extension, never as a path.

Files are stored under names the server makes (ASVS 5.3.2). The name a
browser sends is the file's own name (``File.name`` never holds a folder), so
one with a folder separator, a control character or nothing but dots is
refused rather than cleaned: it was not sent by a page of ours.
"""

from __future__ import annotations

import re
import unicodedata

from exams.catalog.questions import normalise_format
from exams.shared.errors import InvalidInput, UnsupportedMediaType

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


# -- names the server gives downloads --------------------------------------------------------

# Characters Windows or macOS refuse (or treat as folders) in a file name.
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')
_SPACES = re.compile(r"\s+")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10))} | {
    f"LPT{i}" for i in range(1, 10)
}
PART_MAX_BYTES = 60  # one part of a name (a unit's name, an exam's title...)
DOWNLOAD_MAX_BYTES = 200  # a whole name: under the 255 bytes of ext4, APFS and zip tools


def safe_part(text: str, max_bytes: int = PART_MAX_BYTES) -> str:
    """``text`` as one part of a file name any desktop accepts: no separators or control
    characters, no leading or trailing dots and spaces, at most ``max_bytes`` of UTF-8
    (cut between characters); Chinese kept as it is."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Zl", "Zp"))
    text = _UNSAFE.sub("_", _SPACES.sub(" ", text)).strip(" .")
    encoded = text.encode()
    if len(encoded) > max_bytes:
        text = encoded[:max_bytes].decode(errors="ignore").rstrip(" .")
    if text.split(".")[0].upper() in _RESERVED:
        text = "_" + text
    return text or "_"


def download_name(parts: list[str], ext: str, max_bytes: int = DOWNLOAD_MAX_BYTES) -> str:
    """Parts joined by ``_`` with the extension: each part made safe, and the longest parts
    shortened until the whole name fits ``max_bytes`` of UTF-8."""
    safe = [safe_part(p) for p in parts if p]
    suffix = "." + safe_part(ext, 10) if ext else ""
    budget = max_bytes - len(suffix.encode())
    while len("_".join(safe).encode()) > budget:
        longest = max(range(len(safe)), key=lambda i: len(safe[i].encode()))
        size = len(safe[longest].encode())
        if size <= 8:
            break  # many tiny parts: the caller gave too many
        safe[longest] = safe_part(safe[longest], max(8, size - 8))
    joined = "_".join(safe).encode()[: max(budget, 1)].decode(errors="ignore")
    return joined + suffix


def ascii_name(name: str) -> str:
    """A plain-ASCII stand-in (the ``filename=`` of a Content-Disposition header, for
    clients that do not read ``filename*``)."""
    out = "".join(c if 32 < ord(c) < 127 and c not in '"\\;%' else "_" for c in name)
    return re.sub(r"_+", "_", out)
