"""The bench's media and senders: what its figures rest on (not its speed)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import av
import pytest

from bench import measure
from bench.clip import AUDIO_FRAME, KEYFRAME_EVERY, Clip, Sample, make_clip
from bench.tracks import VIDEO_CLOCK, clip_tracks


@pytest.fixture(scope="module")
def clip() -> Clip:
    return make_clip(5)


def test_the_clip_is_whole_gops_of_vp8_at_about_a_megabit(clip: Clip) -> None:
    assert len(clip.video) % KEYFRAME_EVERY == 0
    assert clip.keyframes == tuple(range(0, len(clip.video), KEYFRAME_EVERY))
    assert 600_000 < clip.video_bitrate < 1_500_000
    assert len(clip.audio) == round(clip.seconds * 50)
    decoder = av.CodecContext.create("vp8", "r")
    frames = [f for s in clip.video for f in decoder.decode(av.Packet(s.data))]
    assert (frames[0].width, frames[0].height) == (640, 480)


async def test_a_track_starts_at_a_keyframe_and_loops_with_rising_pts(clip: Clip) -> None:
    audio, video = clip_tracks(clip, keyframe=1)
    count = len(clip.video) + 3  # past the loop point
    video.start(time.monotonic() - 60, count)  # in the past: no pacing waits
    packets = [await video.recv() for _ in range(count)]
    assert bytes(packets[0]) == clip.video[KEYFRAME_EVERY].data
    assert [p.pts for p in packets] == [i * VIDEO_CLOCK // clip.fps for i in range(count)]
    assert video.sent == count and not video.done.is_set()
    with pytest.raises(asyncio.TimeoutError):  # blocks once every frame has been sent
        await asyncio.wait_for(video.recv(), 0.1)
    assert video.done.is_set()
    audio.start(time.monotonic() - 60, 2)
    first = await audio.recv()
    assert (first.pts, (await audio.recv()).pts) == (0, AUDIO_FRAME)


async def test_a_track_sends_nothing_before_it_is_started() -> None:
    _, video = clip_tracks(Clip((Sample(b"k", True),), (Sample(b"a", True),)), 0)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(video.recv(), 0.1)
    assert video.sent == 0


def test_udp_counters_are_read_from_snmp(tmp_path: Path) -> None:
    snmp = tmp_path / "snmp"
    snmp.write_text(
        "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\nUdp: 100 1 7 90 5\n"
    )
    before = measure.udp_counters(snmp)
    snmp.write_text(
        "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\nUdp: 180 1 9 90 6\n"
    )
    delta = measure.udp_delta(before, measure.udp_counters(snmp))
    assert delta == {"InDatagrams": 80, "InErrors": 2, "RcvbufErrors": 1, "NoPorts": 0}


def test_without_the_bench_package_the_command_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An installed server (the image, `pip install .`) has no bench: say where it runs."""
    from web import cli

    monkeypatch.setattr(cli, "use_private_umask", lambda: None)  # this test process's umask
    for name in [n for n in sys.modules if n == "bench" or n.startswith("bench.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "bench", None)  # import bench fails as if not installed
    with pytest.raises(SystemExit) as exited:
        cli.main(["bench", "--streams", "1"])
    assert "scripts/setup --test" in str(exited.value.code)
    assert "docs/bench.md" in str(exited.value.code)
