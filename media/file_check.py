"""Is a stored answer file what it claims to be, all of it?
(``exams.uploads.answer_files.FileInspector``)

Its first bytes were matched to its format already (``exams.catalog.filetypes``);
here the whole file is looked at, in a worker thread, without decoding a
single frame:

- video and audio: PyAV opens the container and finds a stream of the kind
  (a video for a video file, a sound for an audio file) and reads its first
  packets;
- images: PyAV reads the header; width and height must be within bounds
  (a picture of 100 000 x 100 000 pixels is refused before anyone decodes it).
  HEIC/HEIF photos, which FFmpeg may not read, are taken on their brand;
- PDF: starts with ``%PDF-`` and has ``%%EOF`` near its end, like every
  complete PDF;
- text: valid UTF-8 throughout, with no NUL byte.
"""

from __future__ import annotations

import asyncio
import codecs
from pathlib import Path

import av

from exams.shared.errors import UnsupportedMediaType

MAX_SIDE_PX = 20_000
MAX_PIXELS = 200_000_000
PACKETS = 64  # read this many packets of a media file
TEXT_READ = 1024 * 1024
PDF_TAIL = 4096
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


class MediaFileInspector:
    async def inspect(self, path: Path, fmt: str, kind: str) -> None:
        await asyncio.to_thread(check_file, path, fmt, kind)


def check_file(path: Path, fmt: str, kind: str) -> None:
    """Raise :class:`UnsupportedMediaType` saying what is wrong with the file, if anything."""
    if kind in ("video", "audio"):
        _check_media(path, fmt, kind)
    elif kind == "image":
        _check_image(path, fmt)
    elif kind == "pdf":
        _check_pdf(path)
    elif kind == "text":
        _check_text(path, fmt)
    else:
        raise UnsupportedMediaType(f"the server cannot check {kind} files")


def _refuse(fmt: str, why: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"this .{fmt} file {why}; check that it plays or opens on your device and upload it "
        "again, or upload another file"
    )


def _check_media(path: Path, fmt: str, kind: str) -> None:
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == kind]
            if not streams:
                raise _refuse(fmt, f"has no {kind} in it")
            wanted = {s.index for s in streams}
            if kind == "video" and not any(
                getattr(s.codec_context, "width", 0) > 0 for s in streams
            ):
                raise _refuse(fmt, "has a video of no size")
            seen = 0
            for n, packet in enumerate(container.demux()):
                if packet.stream.index in wanted and packet.size > 0:
                    seen += 1
                if seen or n >= PACKETS:
                    break
            if not seen:
                raise _refuse(fmt, f"holds no {kind} data")
    except av.error.FFmpegError as exc:
        raise _refuse(fmt, "could not be read as a video or sound file") from exc


def _check_image(path: Path, fmt: str) -> None:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise _refuse(fmt, "holds no picture")
            ctx = container.streams.video[0].codec_context
            width, height = ctx.width, ctx.height
    except av.error.FFmpegError as exc:
        if fmt in ("heic", "heif") and _heif_brand(path):
            return
        raise _refuse(fmt, "could not be read as a picture") from exc
    if width <= 0 or height <= 0:
        raise _refuse(fmt, "is a picture of no size")
    if width > MAX_SIDE_PX or height > MAX_SIDE_PX or width * height > MAX_PIXELS:
        raise UnsupportedMediaType(
            f"this picture is {width}x{height} pixels; the most allowed is {MAX_SIDE_PX} pixels "
            f"a side and {MAX_PIXELS // 1_000_000} million pixels: make it smaller",
            {"width": width, "height": height},
        )


def _heif_brand(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(12)
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def _check_pdf(path: Path) -> None:
    with path.open("rb") as f:
        head = f.read(5)
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - PDF_TAIL))
        tail = f.read()
    if head != b"%PDF-":
        raise _refuse("pdf", "is not a PDF")
    if b"%%EOF" not in tail:
        raise _refuse("pdf", "is not a complete PDF (it has no end)")


def _check_text(path: Path, fmt: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        while block := f.read(TEXT_READ):
            if b"\x00" in block:
                raise _refuse(fmt, "is not text (it holds binary data)")
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise _refuse(fmt, "is not UTF-8 text") from exc
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise _refuse(fmt, "is not UTF-8 text (it ends in the middle of a character)") from exc
