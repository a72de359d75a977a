"""What an uploaded file is, judged by its first bytes, not by its name (ASVS 5.2).

Each format a question may accept (a file extension, as the university typed
it) has a kind and a check of the file's opening bytes. A file whose bytes do
not match the format it claims is refused; so is a format this table does not
know, since nothing could vouch for it. Text has no magic number: its head
must decode as UTF-8 and hold no NUL byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exams.catalog.questions import normalise_format
from exams.shared.errors import UnsupportedMediaType

HEAD_BYTES = 4096  # how much of a file the checks read


def _at(offset: int, *magics: bytes) -> Callable[[bytes], bool]:
    return lambda head: any(head[offset : offset + len(m)] == m for m in magics)


def _riff(form: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[:4] == b"RIFF" and head[8:12] == form


def _mp3(head: bytes) -> bool:
    return head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _adts(head: bytes) -> bool:
    return len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


def _text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut at the end of the head
    return True


_EBML = _at(0, b"\x1a\x45\xdf\xa3")  # Matroska / WebM
_FTYP = _at(4, b"ftyp")  # ISO base media: MP4, MOV, M4A, 3GP, HEIC


@dataclass(frozen=True)
class FileType:
    kind: str  # video, audio, image, text, pdf (exams.catalog.questions.FileKind values)
    check: Callable[[bytes], bool]
    media_type: str


FORMATS: dict[str, FileType] = {
    "mp4": FileType("video", _FTYP, "video/mp4"),
    "m4v": FileType("video", _FTYP, "video/mp4"),
    "mov": FileType("video", _FTYP, "video/quicktime"),
    "3gp": FileType("video", _FTYP, "video/3gpp"),
    "webm": FileType("video", _EBML, "video/webm"),
    "mkv": FileType("video", _EBML, "video/x-matroska"),
    "avi": FileType("video", _riff(b"AVI "), "video/x-msvideo"),
    "flv": FileType("video", _at(0, b"FLV"), "video/x-flv"),
    "mpg": FileType("video", _at(0, b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"), "video/mpeg"),
    "mpeg": FileType("video", _at(0, b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"), "video/mpeg"),
    "mp3": FileType("audio", _mp3, "audio/mpeg"),
    "wav": FileType("audio", _riff(b"WAVE"), "audio/wav"),
    "ogg": FileType("audio", _at(0, b"OggS"), "audio/ogg"),
    "oga": FileType("audio", _at(0, b"OggS"), "audio/ogg"),
    "opus": FileType("audio", _at(0, b"OggS"), "audio/ogg"),
    "flac": FileType("audio", _at(0, b"fLaC"), "audio/flac"),
    "m4a": FileType("audio", _FTYP, "audio/mp4"),
    "aac": FileType("audio", _adts, "audio/aac"),
    "amr": FileType("audio", _at(0, b"#!AMR"), "audio/amr"),
    "weba": FileType("audio", _EBML, "audio/webm"),
    "jpg": FileType("image", _at(0, b"\xff\xd8\xff"), "image/jpeg"),
    "jpeg": FileType("image", _at(0, b"\xff\xd8\xff"), "image/jpeg"),
    "png": FileType("image", _at(0, b"\x89PNG\r\n\x1a\n"), "image/png"),
    "gif": FileType("image", _at(0, b"GIF87a", b"GIF89a"), "image/gif"),
    "webp": FileType("image", _riff(b"WEBP"), "image/webp"),
    "bmp": FileType("image", _at(0, b"BM"), "image/bmp"),
    "heic": FileType("image", _FTYP, "image/heic"),
    "heif": FileType("image", _FTYP, "image/heif"),
    "pdf": FileType("pdf", _at(0, b"%PDF-"), "application/pdf"),
    "txt": FileType("text", _text, "text/plain"),
    "md": FileType("text", _text, "text/plain"),
    "csv": FileType("text", _text, "text/plain"),
}


def file_type(fmt: str) -> FileType:
    """The type of a format, or :class:`UnsupportedMediaType` if the server cannot check it."""
    found = FORMATS.get(normalise_format(fmt))
    if found is None:
        raise UnsupportedMediaType(
            f"the server cannot check .{fmt} files; upload one of the formats the question "
            "lists that the server knows",
            {"known": sorted(FORMATS)},
        )
    return found


def sniff(head: bytes, fmt: str) -> str:
    """The kind of a file claiming format ``fmt``, if its first bytes agree; else raise."""
    kind = file_type(fmt)
    if not head or not kind.check(head):
        raise UnsupportedMediaType(
            f"this file's content is not a .{normalise_format(fmt)} file; "
            "upload the file itself, not a renamed one"
        )
    return kind.kind
