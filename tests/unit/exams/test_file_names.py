"""A candidate's file name is shown, never used as a path; its extension is its format."""

from __future__ import annotations

import pytest

from exams.errors import InvalidInput, UnsupportedMediaType
from exams.file_names import checked_name, file_format


@pytest.mark.parametrize("name", ["演奏.mp4", "..乐谱.png", "a b (1).PNG", "x" * 251 + ".mp4"])
def test_plain_names_pass(name: str) -> None:
    assert checked_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        ". .",
        "../x.mp4",
        "a/b.mp4",
        "..\\x.mp4",
        "a\x00.mp4",
        "a\n.mp4",
        "a\u202e4pm.exe",
        "x" * 256,
    ],
)
def test_names_with_folders_or_control_characters_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        checked_name(name)


def test_the_extension_is_the_format() -> None:
    assert file_format("演奏.MP4", ("mp4", "webm")) == "mp4"
    with pytest.raises(UnsupportedMediaType):
        file_format("setup.exe", ("mp4",))
    with pytest.raises(InvalidInput):
        file_format("no-extension", ("mp4",))
