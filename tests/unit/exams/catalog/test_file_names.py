"""A candidate's file name is shown, never used as a path; its extension is its format."""

from __future__ import annotations

import pytest

from exams.catalog.file_names import ascii_name, checked_name, download_name, file_format, safe_part
from exams.shared.errors import InvalidInput, UnsupportedMediaType


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


# -- names the server gives downloads --------------------------------------------------


def test_download_names_are_safe_on_every_desktop() -> None:
    assert safe_part('a/b\\c:d*e?f"g<h>i|j') == "a_b_c_d_e_f_g_h_i_j"
    assert safe_part(" ..CON.. ") == "_CON"
    assert safe_part("\u202e张三\n") == "张三"
    assert safe_part("") == "_"
    assert safe_part("音" * 40, 61) == "音" * 20  # 3 bytes a character: cut between them
    name = download_name(
        ["中央音乐学院", "钢" * 100, "第1题", "张三", "110101200001011234"], "webm"
    )
    assert len(name.encode()) <= 200 and name.endswith("_张三_110101200001011234.webm")
    assert "/" not in name and name.startswith("中央音乐学院_钢")
    assert ascii_name("考试_e1_q1.webm") == "_e1_q1.webm"
