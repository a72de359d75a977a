from __future__ import annotations

import pytest

from exams.catalog.filetypes import FORMATS, sniff
from exams.shared.errors import UnsupportedMediaType

SAMPLES = {
    "mp4": b"\x00\x00\x00\x18ftypmp42",
    "webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86",
    "mp3": b"ID3\x04\x00",
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "png": b"\x89PNG\r\n\x1a\n\x00",
    "jpg": b"\xff\xd8\xff\xe0",
    "pdf": b"%PDF-1.7\n",
    "txt": "我的答案\n".encode(),
}


@pytest.mark.parametrize("fmt,head", SAMPLES.items())
def test_a_file_is_what_its_first_bytes_say(fmt: str, head: bytes) -> None:
    assert sniff(head, fmt) == FORMATS[fmt].kind
    assert sniff(head, "." + fmt.upper()) == FORMATS[fmt].kind


@pytest.mark.parametrize(
    "fmt,head",
    [("mp4", SAMPLES["png"]), ("png", b"<svg xmlns="), ("pdf", b""), ("txt", b"a\x00b")],
)
def test_a_renamed_file_is_refused(fmt: str, head: bytes) -> None:
    with pytest.raises(UnsupportedMediaType, match="renamed"):
        sniff(head, fmt)


def test_a_format_nothing_can_vouch_for_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType, match="cannot check"):
        sniff(b"MZ\x90\x00", "exe")


def test_text_cut_in_the_middle_of_a_character_is_still_text() -> None:
    head = "答".encode() * 10
    assert sniff(head[:-1], "txt") == "text"
