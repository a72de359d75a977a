"""Whole answer files are what they claim: real media, a complete PDF, a picture of
bounded size, UTF-8 text. Made at test time, none committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from exams.shared.errors import UnsupportedMediaType
from media.file_check import check_file
from tests.support import files


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "name,data,kind",
    [
        ("a.mp4", files.mp4(), "video"),
        ("a.wav", files.wav(), "audio"),
        ("a.png", files.png(), "image"),
        ("a.pdf", files.pdf(), "pdf"),
        ("a.txt", "乐谱说明\n".encode() * 100, "text"),
    ],
)
def test_real_files_pass(tmp_path: Path, name: str, data: bytes, kind: str) -> None:
    check_file(write(tmp_path, name, data), name.rsplit(".")[1], kind)


@pytest.mark.parametrize(
    "name,data,kind,why",
    [
        ("a.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(4096), "video", "could not be read"),
        ("a.wav", files.wav(), "video", "has no video"),
        ("a.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "image", "no size"),
        ("a.png", files.png_header(25_000, 10), "image", "25000x10"),
        ("a.png", files.png_header(15_000, 15_000), "image", "15000x15000"),
        ("a.pdf", b"%PDF-1.4\n" + bytes(100), "pdf", "no end"),
        ("a.pdf", b"%PDX-1.4\n%%EOF", "pdf", "not a PDF"),
        ("a.txt", b"text" + b"\x00" + b"more", "text", "binary"),
        ("a.txt", b"ok\n" * 10 + b"\xff\xfe", "text", "UTF-8"),
        ("a.txt", "乐".encode()[:2], "text", "middle of a character"),
    ],
)
def test_files_that_are_not_what_they_claim_are_refused(
    tmp_path: Path, name: str, data: bytes, kind: str, why: str
) -> None:
    with pytest.raises(UnsupportedMediaType, match=why):
        check_file(write(tmp_path, name, data), name.rsplit(".")[1], kind)
