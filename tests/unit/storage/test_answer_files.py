"""Answer files are streamed to disk under a byte limit, under names the server makes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exams.shared.errors import NotFound, TooLarge
from storage.answer_files import AnswerFiles


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_file_is_stored_whole_under_a_server_name(tmp_path: Path) -> None:
    files = AnswerFiles(tmp_path / "uploads", tmp_path / "recordings")
    stored = await files.save("attempt1", "mp4", chunks(b"a" * 10, b"b" * 5), limit=15)
    assert stored.size == 15 and stored.head == b"a" * 10 + b"b" * 5
    path = files.path("attempt1", stored.id, "mp4")
    assert path.read_bytes() == b"a" * 10 + b"b" * 5
    assert [p.name for p in path.parent.iterdir()] == [f"{stored.id}.mp4"]
    await files.remove("attempt1", stored.id, "mp4")
    assert not path.exists()


async def test_a_body_past_the_limit_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    files = AnswerFiles(tmp_path / "uploads", tmp_path / "recordings")
    with pytest.raises(TooLarge):
        await files.save("attempt1", "mp4", chunks(b"a" * 10, b"b" * 10, b"c" * 10), limit=15)
    assert list((tmp_path / "uploads" / "attempt1").iterdir()) == []


@pytest.mark.parametrize(
    "folder,file_id,fmt",
    [("../x", "0" * 32, "mp4"), ("a", "../../etc/passwd", "mp4"), ("a", "0" * 32, "mp4/../x")],
)
def test_only_names_the_server_made_resolve(folder: str, file_id: str, fmt: str) -> None:
    files = AnswerFiles(Path("/data/uploads"), Path("/data/recordings"))
    with pytest.raises(NotFound):
        files.path(folder, file_id, fmt)
    with pytest.raises(NotFound):
        files.segment_path(folder, "../segment-000.webm")
