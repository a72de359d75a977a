"""A fill's head and tail joined, read and cut with PyAV (media.fill, issue #14)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from exams.shared.errors import InvalidInput, UnsupportedMediaType
from media import fill
from tests.support.fill_media import chunks, fill_body, recording

MIMES = {"webm": "video/webm;codecs=vp8,opus", "mp4": "video/mp4"}


@pytest.mark.parametrize("container", ["webm", "mp4"])
def test_head_and_tail_cut_anywhere_join_into_a_file_cut_to_the_hole(
    tmp_path: Path, container: str
) -> None:
    data = recording(tmp_path / f"copy.{container}", 8, container)
    parts = chunks(data, 8, 0.0, 8)  # cut at arbitrary bytes, as MediaRecorder's timeslice
    body, head = fill_body(parts, 4000, 6000)
    (tmp_path / "upload").write_bytes(body)
    info = fill.inspect(tmp_path / "upload", head, MIMES[container], tmp_path / "joined")
    assert (info.container, info.video) == (container, "vp8" if container == "webm" else "h264")
    assert info.first_s <= 3.0 and info.end_s >= 6.0
    piece = fill.cut(info.path, tmp_path / "out" / "fill-001.mkv", 4.5, 6.0)
    key = max(k for k in info.keyframes if k <= 4.5)
    assert piece.origin_s == pytest.approx(key)
    with av.open(str(piece.path)) as f:
        times = [frame.time for frame in f.decode(video=0)]
    assert times[0] == pytest.approx(0.0, abs=0.001)
    assert times[-1] == pytest.approx(6.0 - key - 1 / 30, abs=0.04)
    assert len(times) == pytest.approx((6.0 - key) * 30, abs=2)
    assert (piece.playback_path is not None) == (container == "mp4")


def test_what_is_not_a_browser_recording_is_refused(tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    upload.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 20)
    with pytest.raises(UnsupportedMediaType):
        fill.inspect(upload, 100, MIMES["webm"], tmp_path / "joined")
    with pytest.raises(UnsupportedMediaType):  # said to be MP4, is not
        fill.inspect(upload, 100, MIMES["mp4"], tmp_path / "joined")
    with pytest.raises(UnsupportedMediaType):
        fill.inspect(upload, 100, "video/x-msvideo", tmp_path / "joined")
    with pytest.raises(InvalidInput):
        fill.inspect(upload, 10_000, MIMES["webm"], tmp_path / "joined")


def test_a_cluster_is_found_only_where_one_really_starts() -> None:
    fake = b"xx" + fill.CLUSTER + b"\x81\x00"  # the id, then no Timecode: frame data
    real = fill.CLUSTER + b"\x01\xff\xff\xff\xff\xff\xff\xff" + b"\xe7\x81\x00"
    assert fill.first_fragment(fake + real, "webm") == len(fake)
    assert fill.first_fragment(fake, "webm") is None
