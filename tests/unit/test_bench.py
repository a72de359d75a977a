"""The bench's media and senders: what its figures rest on (not its speed)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bench import backends, measure
from bench import run as bench_run
from bench.analysis import AnalysisResult, Injection, Window
from bench.clip import (
    AUDIO_FRAME,
    KEY_ON_REQUEST_EVERY,
    KEYFRAME_EVERY,
    Clip,
    Sample,
    make_black,
    make_clip,
    read_barcode,
)
from bench.live import LiveResult
from bench.loadgen import LoadResult, StreamResult, audio_ptime_ms
from bench.report import Run, analysis_figures, figures, live_figures, percentile
from bench.tracks import VIDEO_CLOCK, clip_tracks
from bench.viewers import Frames, Viewer, ViewerLog, is_vp8_keyframe, sent_index
from bench.wall import WallLog, WallWatcher
from media.bitstream import opus_duration


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
    # Each picture carries its index, read back after scaling to a wall picture's size.
    assert [read_barcode(f.to_ndarray(format="gray")) for f in frames] == list(range(len(frames)))
    small = frames[7].reformat(width=320, height=240)
    assert read_barcode(small.to_ndarray(format="gray")) == 7
    # Every third picture has a keyframe version, which decodes on its own to the same picture.
    assert sorted(clip.key_video) == list(range(0, len(clip.video), KEY_ON_REQUEST_EVERY))
    assert all(s.keyframe and is_vp8_keyframe(s.data) for s in clip.key_video.values())
    alone = av.CodecContext.create("vp8", "r").decode(av.Packet(clip.key_video[9].data))[0]
    assert read_barcode(alone.to_ndarray(format="gray")) == 9


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


async def test_a_track_repacked_by_the_answers_ptime_sends_longer_packets(clip: Clip) -> None:
    """The server's answer asks a=ptime:40 (media/sdp.py), as Chromium honours it: the load
    generator's sound then goes in 40 ms packets from the same moment of the clip."""
    answer = "\r\n".join(
        ["v=0", "m=audio 9 X 111", "a=ptime:40", "m=video 9 X 96", "a=ptime:20", ""]
    )
    assert audio_ptime_ms(answer) == 40
    assert audio_ptime_ms(answer.replace("a=ptime:40\r\n", "")) is None  # the video's: not
    longer = clip.audio_in(40)
    assert clip.audio_in(40) is longer and clip.audio_in(20) is clip.audio
    assert len(longer) == round(clip.seconds * 25)
    assert {round(opus_duration(s.data) * 1000) for s in longer} == {40}
    with pytest.raises(ValueError):
        clip.audio_in(30)
    audio, _ = clip_tracks(clip, keyframe=1)
    at_s = audio.first * audio.interval
    audio.repacked(longer, 0.04)
    assert abs(audio.first * 0.04 - at_s) <= 0.02 + 1e-9  # the packet of that moment
    audio.start(time.monotonic() - 60, 2)
    first, second = await audio.recv(), await audio.recv()
    assert bytes(first) == longer[audio.first].data
    assert (first.pts, second.pts) == (0, 1920)


def test_the_clips_keyframes_are_the_size_of_chromiums(clip: Clip) -> None:
    """Chromium sent keyframes of 15-42 KB of these pictures (bench/clip.py); a cold
    encoder's first keyframe was 70 KB, and made the wall's decoding look twice as dear."""
    natural = [len(s.data) for s in clip.video if s.keyframe]
    on_request = [len(s.data) for s in clip.key_video.values()]
    assert max(natural + on_request) < 45_000, (natural, sorted(on_request)[-3:])


def test_a_clip_with_keyframes_only_on_request_is_one_gop_of_chromium_sized_keys() -> None:
    """``bench --keyframes on-request``: as Chromium sends, no keyframe but where the clip
    starts over, and those asked for about the size of Chromium's (36 KB median, 15-42 KB)."""
    clip = make_clip(3, keyframe_every=None)
    assert clip.keyframes == (0,)
    on_request = sorted(len(s.data) for s in clip.key_video.values())
    assert 30_000 < on_request[len(on_request) // 2] < 42_000, on_request
    assert on_request[-1] < 48_000, on_request
    decoder = av.CodecContext.create("vp8", "r")
    frames = [f for s in clip.video for f in decoder.decode(av.Packet(s.data))]
    assert [read_barcode(f.to_ndarray(format="gray")) for f in frames] == list(range(len(frames)))


async def test_a_staggered_track_starts_inside_a_gop_with_a_keyframe(clip: Clip) -> None:
    """Streams of different phases have their keyframes apart, as real cameras do."""
    _, video = clip_tracks(clip, keyframe=1, phase=0.5)
    start = KEYFRAME_EVERY + KEYFRAME_EVERY // 2 // KEY_ON_REQUEST_EVERY * KEY_ON_REQUEST_EVERY
    video.start(time.monotonic() - 60, 3)
    packets = [bytes(await video.recv()) for _ in range(3)]
    assert packets == [clip.key_video[start].data, *(s.data for s in clip.video[start + 1 :][:2])]
    assert video.keyframes_on_request == 0
    # the next keyframe is the clip's own, at the next GOP
    _, whole = clip_tracks(clip, keyframe=0, phase=0.99)
    assert whole.first == KEYFRAME_EVERY - KEY_ON_REQUEST_EVERY


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


async def test_a_keyframe_request_is_answered_at_the_next_picture_that_has_one(clip: Clip) -> None:
    """As a browser's encoder answers a PLI: the sender's keyframe requests reach the track."""
    _, video = clip_tracks(clip, keyframe=0)
    video.start(time.monotonic() - 60, None)  # open-ended
    first = [await video.recv() for _ in range(2)]
    assert bytes(first[0]) == clip.video[0].data and bytes(first[1]) == clip.video[1].data
    video.request_keyframe()  # picture 2 has no keyframe version; picture 3 has
    after = [bytes(await video.recv()) for _ in range(3)]
    assert after == [clip.video[2].data, clip.key_video[3].data, clip.video[4].data]
    assert video.keyframes_on_request == 1
    assert len(video.sent_at) == 5 and video.sent_at == sorted(video.sent_at)
    video.finish(6)
    await video.recv()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(video.recv(), 0.1)
    assert video.sent == 6 and video.done.is_set()


def test_a_relayed_frame_is_named_by_its_bytes(clip: Clip) -> None:
    frames = Frames(clip)
    assert frames.picture(clip.video[5].data) == 5
    assert frames.picture(clip.key_video[6].data) == 6
    assert frames.picture(b"re-encoded elsewhere") is None


def test_the_sent_frame_is_the_latest_one_that_showed_the_picture() -> None:
    """A stream that began at clip picture 75 of 150 (so it shows picture 75 again every 150
    frames): which of its frames was it?"""
    sent_at = [i / 30 for i in range(400)]  # frame i handed over at i/30 s
    assert sent_index(sent_at, 0.5, 75, 75, 150) == 0
    assert sent_index(sent_at, 5.05, 75, 75, 150) == 150  # the loop's second pass
    assert sent_index(sent_at, 5.05, 74, 75, 150) == 149
    assert sent_index(sent_at, 0.02, 76, 75, 150) == -1  # not sent yet: unnamed
    assert sent_index(sent_at, -1.0, 75, 75, 150) == -1


def _mark(wall: float, cpu: float) -> measure.CpuMark:
    return measure.CpuMark(wall, cpu, cpu)


def test_live_figures_are_the_viewers_and_walls_share_beyond_the_candidates() -> None:
    # The server used 0.2 core with candidates alone, 0.5 with 3 viewers, 0.26 with a wall of
    # 2 cameras; each 10 s.
    marks = {
        "recording": _mark(0, 0),
        "sent": _mark(10, 2),
        "viewers": _mark(20, 4),
        "viewers_end": _mark(30, 9),
        "wall": _mark(40, 12),
        "wall_end": _mark(50, 14.6),
    }
    sent_at = {0: [20 + i / 10 for i in range(101)], 1: [20 + i / 10 for i in range(101)]}
    # Frames 0..100 of each candidate were sent in the viewer window (20 .. 30 s).
    full = ViewerLog(0, opened_at=15.0, first_picture_at=15.2)
    full.frames = [(i, sent_at[0][i] + 0.05) for i in range(101)]
    half = ViewerLog(1, opened_at=15.0, first_picture_at=15.4, unidentified=2, audio_frames=7)
    half.frames = [(i, sent_at[1][i] + 0.1) for i in range(0, 101, 2)] + [(0, 21.0)]  # a repeat
    blind = ViewerLog(1, opened_at=15.0)
    wall = WallLog(cameras=2, pictures=8, ages_s=[0.5] * 19 + [2.9], first_picture_s=[0.2, 0.3])
    clicks = [ViewerLog(0, opened_at=31.0 + k, connected_at=31.05 + k) for k in range(3)]
    for k, log in enumerate(clicks[:2]):
        log.first_picture_at = log.opened_at + 0.1 * (k + 1)
    live = LiveResult([full, half, blind], (20.0, 30.0), clicks, wall, (0.1, 10.0))
    run = Run(
        LoadResult([], 10.0, live, sent_at),
        marks,
        {phase: _mark(m.wall, m.cpu / 2) for phase, m in marks.items()},
        {},
        {},
        None,
        100 << 20,
        {"sent": 200 << 20, "viewers_end": 230 << 20},
        260 << 20,
        [(5, 150 << 20), (25, 260 << 20), (45, 240 << 20)],
    )
    got = live_figures(run)
    assert got["viewer_streams"] == 3
    assert got["viewer_cpu_per_stream_pct"] == 10.0  # (50% - 20%) / 3
    assert got["viewer_frames_expected"] == 303
    assert got["viewer_frames_delivered"] == 101 + 51
    assert got["viewer_frames_delivered_ratio"] == round(152 / 303, 5)
    assert got["glass_to_glass_p50_ms"] == 50.0
    assert got["glass_to_glass_p95_ms"] == 100.0
    assert got["viewer_rss_per_stream_mb"] == 20.0  # (260 - 200) MiB / 3
    assert got["spotlight_first_picture_ms"] == 150.0  # the clicks: median of 100 and 200
    assert got["spotlight_first_picture_max_ms"] == 200.0
    assert got["spotlight_connected_ms"] == 50.0
    assert got["spotlight_clicks_without_picture"] == 1
    assert got["spotlight_first_picture_ramp_p50_ms"] == 300.0  # median of 200 and 400
    assert got["viewers_without_picture"] == 1
    assert got["viewer_frames_unidentified"] == 2 and got["viewer_audio_frames"] == 7
    assert got["wall_cpu_per_camera_pct"] == 3.0  # (26% - 20%) / 2
    assert got["wall_picture_cpu_per_camera_pct"] == 0.5  # 0.1 s of 10 s, 2 cameras
    assert got["wall_picture_age_p95_s"] == 0.5
    assert got["wall_cameras_without_picture"] == 0
    assert got["candidates_only_server_cpu_pct"] == 20.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and percentile([], 95) is None


def test_the_walls_cost_is_taken_against_the_window_just_before_it() -> None:
    # Candidates alone: 0.2 core while recording, 0.24 later (the server's rate drifts);
    # 0.26 with a wall of 2 cameras. Against the window next to it: 1% a camera, not 3%.
    marks = {
        "recording": _mark(0, 0),
        "sent": _mark(10, 2),
        "wall_alone": _mark(30, 6),
        "wall_alone_end": _mark(40, 8.4),
        "wall": _mark(41, 9),
        "wall_end": _mark(51, 11.6),
    }
    wall = WallLog(cameras=2, pictures=1, pushed=7, not_jpeg=1, statuses={"pushed": 7, "404": 1})
    run = Run(
        LoadResult([], 10.0, LiveResult(wall_log=wall), {}),
        marks,
        marks,
        {},
        {},
        None,
        0,
        {},
        0,
    )
    got = live_figures(run)
    assert got["wall_cpu_per_camera_pct"] == 1.0  # (26% - 24%) / 2
    assert got["wall_cpu_per_camera_vs_recording_pct"] == 3.0  # (26% - 20%) / 2
    assert got["wall_reference_server_cpu_pct"] == 24.0
    assert got["wall_picture_cpu_per_camera_pct"] is None  # the server's count not read
    assert (got["wall_pictures_pushed"], got["wall_pictures_fetched"]) == (7, 1)
    assert got["wall_picture_statuses"] == {"404": 1, "pushed": 7}


def test_the_bench_wall_takes_a_pushed_picture_and_fetches_none() -> None:
    """A picture that came with its tile is taken from the message (checked to be a JPEG),
    as the wall page does; nothing is fetched for it."""

    def no_fetch(*_: Any, **__: Any) -> Any:
        raise AssertionError("fetched a picture that came with its tile")

    http: Any = no_fetch
    watcher = WallWatcher(no_fetch, http, "http://x", {}, "e1", ["a", "b"])
    picture = {"seq": 3, "taken_at": 1.0, "url": "/p"}
    tiles = [
        {"tile_id": t, "candidate_id": t, "cameras": {"primary": {"picture": picture}}}
        for t in ("a", "b")
    ]
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0 a jpeg").decode()
    pictures = [
        {"tile_id": "a", "camera": "primary", "seq": 3, "jpeg": jpeg},
        {"tile_id": "b", "camera": "primary", "seq": 3, "jpeg": base64.b64encode(b"no").decode()},
    ]
    watcher.on_tiles({"tiles": tiles, "pictures": pictures})
    watcher.on_tiles({"tiles": tiles, "pictures": pictures})  # the same seq again: nothing new
    assert (watcher.log.pushed, watcher.log.pictures, watcher.log.not_jpeg) == (2, 0, 1)
    assert watcher.log.statuses == {"pushed": 2}


def test_the_figures_say_when_the_load_generator_was_the_limit() -> None:
    """Issue #16: a full load-generator core, or a sender half a second behind its
    schedule, and the run measured the load generator as much as the server."""
    marks = {"recording": _mark(0, 0), "sent": _mark(10, 5)}

    def run(loadgen_cpu_s: float, late_ms: float) -> Run:
        stream = StreamResult(0, 300, 500, 300, 500, 1, 80.0, late_ms, {})
        loadgen = {"recording": _mark(0, 0), "sent": _mark(10, loadgen_cpu_s)}
        busy = {"recording": 0.0, "sent": 20.0}
        return Run(LoadResult([stream], 10.0), marks, loadgen, busy, {}, None, 0, {}, 0)

    calm = figures(run(5.0, 20.0), 1, 10)
    assert (calm["loadgen_cpu_pct"], calm["loadgen_bound"]) == (50.0, False)
    assert figures(run(9.5, 20.0), 1, 10)["loadgen_bound"] is True
    assert figures(run(5.0, 800.0), 1, 10)["loadgen_bound"] is True


def test_without_a_live_part_there_are_no_live_figures() -> None:
    marks = {"recording": _mark(0, 0), "sent": _mark(10, 2)}
    run = Run(LoadResult([], 10.0), marks, marks, {}, {}, None, 0, {}, 0)
    assert live_figures(run) == {}


@dataclass
class _Rtp:
    timestamp: int
    sequence_number: int
    marker: int
    payload: bytes


def _packets(data: bytes, timestamp: int, first_seq: int, parts: int = 3) -> list[_Rtp]:
    """A VP8 frame as RTP packets (payload descriptor: S bit on the first)."""
    size = -(-len(data) // parts)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return [
        _Rtp(
            timestamp,
            (first_seq + i) & 0xFFFF,
            int(i == len(chunks) - 1),
            bytes([0x10 if i == 0 else 0]) + c,
        )
        for i, c in enumerate(chunks)
    ]


async def test_the_light_receiver_names_whole_frames_and_counts_broken_ones(clip: Clip) -> None:
    _, video = clip_tracks(clip, keyframe=0)
    video.start(time.monotonic() - 60, None)
    for _ in range(3):
        await video.recv()  # frames 0, 1, 2 sent
    viewer = Viewer(None, "e", "c", 0, video, Frames(clip))  # type: ignore[arg-type]
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    try:
        sent = [_packets(clip.video[i].data, 3000 * i, 100 + 10 * i) for i in range(3)]
        for packet in sent[1]:  # before any keyframe: no picture yet
            viewer._light(packet, vp8)
        for packet in sent[0]:
            viewer._light(packet, vp8)
        for packet in sent[2][:1] + sent[2][2:]:  # a packet lost: the frame is not whole
            viewer._light(packet, vp8)
        assert [index for index, _ in viewer.log.frames] == [0]
        assert viewer.log.first_picture_at is not None and viewer.first_picture.is_set()
        assert viewer.log.unidentified == 1
    finally:
        await viewer.pc.close()


async def test_a_covered_track_sends_black_keyframes_then_returns_at_a_keyframe(
    clip: Clip,
) -> None:
    """The analysis part's camera going black: from the next frame, with its moment noted;
    back to the clip only at a picture that can be sent as a keyframe."""
    black = make_black(4)
    assert all(s.keyframe and is_vp8_keyframe(s.data) for s in black)
    decoded = av.CodecContext.create("vp8", "r").decode(av.Packet(black[2].data))[0]
    assert decoded.to_ndarray(format="gray").max() <= 20  # black: what dark.py calls dark
    _, video = clip_tracks(clip, keyframe=0)
    video.start(time.monotonic() - 60, None)
    assert bytes(await video.recv()) == clip.video[0].data
    before = time.time()
    video.cover(black)
    covered = [bytes(await video.recv()) for _ in range(3)]
    assert covered == [black[1].data, black[2].data, black[3].data]  # frames 1..3
    assert video.covered_at is not None and before <= video.covered_at <= time.time()
    video.uncover()  # picture 4 has no keyframe version: still black; picture 6 has one
    after = [bytes(await video.recv()) for _ in range(3)]
    assert after == [black[0].data, black[1].data, clip.key_video[6].data]
    assert bytes(await video.recv()) == clip.video[7].data


def _window(mode: str, n: int, takes: dict[str, str]) -> Window:
    return Window(mode, f"analysis_{mode}{n}", f"analysis_{mode}{n}_end", takes)


def test_analysis_figures_are_the_detectors_share_per_stream_and_the_alert_latency() -> None:
    # 4 streams; the server used 1.0 core in both off-windows, 1.1 and 1.2 in the on-windows
    # (median 1.15), its loop thread 0.5 off and 0.52 on (the rest in threads); 10 s each.
    marks = {
        "recording": _mark(0, 0),
        "sent": _mark(10, 2),
        "analysis_off0": _mark(20, 10),
        "analysis_off0_end": _mark(30, 20),
        "analysis_on0": _mark(40, 30),
        "analysis_on0_end": _mark(50, 41),
        "analysis_off1": _mark(60, 50),
        "analysis_off1_end": _mark(70, 60),
        "analysis_on1": _mark(80, 70),
        "analysis_on1_end": _mark(90, 82),
    }
    marks = {
        k: measure.CpuMark(m.wall, m.cpu, 0.5 * m.wall if "off" in k else 0.52 * m.wall)
        for k, m in marks.items()
    }
    windows = [
        _window("off", 0, {"c1": "t1", "c2": "t2"}),
        _window("on", 0, {"c1": "t3", "c2": "t4"}),
        _window("off", 1, {"c1": "t5", "c2": "t6"}),
        _window("on", 1, {"c1": "t7", "c2": "t8"}),
    ]
    injections = [
        Injection("c1", "t1", 21.0, "off"),  # monitoring off: no alert, not counted
        Injection("c1", "t3", 41.0, "on"),
        Injection("c2", "t4", 42.0, "on"),
        Injection("c1", "t7", 81.0, "on"),  # missed
    ]

    def incident(candidate: str, take: str, kind: str, started: float, raised: float) -> dict:
        return {
            "candidate_id": candidate,
            "take_id": take,
            "kind": kind,
            "started_at": started,
            "raised_at": raised,
        }

    incidents = [
        incident("c1", "t3", "camera_dark", 41.5, 42.0),  # 1.0 s after the true onset
        incident("c2", "t4", "camera_dark", 43.0, 45.0),  # 3.0 s
        incident("c1", "t3", "no_face", 40.0, 50.0),
        incident("c2", "t4", "no_face", 40.0, 50.0),
        incident("c9", "elsewhere", "camera_dark", 1.0, 2.0),  # not a window's take
    ]
    analysis = AnalysisResult(windows, injections, incidents, streams=4)
    busy = {k: m.cpu + m.wall * 0.1 for k, m in marks.items()}  # others used 10% of a core
    run = Run(
        LoadResult([], 10.0, analysis=analysis),
        marks,
        {k: _mark(m.wall, 0) for k, m in marks.items()},
        busy,
        {},
        None,
        0,
        {},
        0,
    )
    got = analysis_figures(run)
    assert got["analysis_streams"] == 4
    assert got["analysis_cpu_per_stream_pct"] == 3.75  # (115% - 100%) / 4
    assert got["analysis_loop_cpu_per_stream_pct"] == 0.5  # (52% - 50%) / 4
    assert got["analysis_threads_cpu_per_stream_pct"] == 3.25
    assert got["analysis_on_server_cpu_pct"] == 115.0
    assert got["analysis_off_server_cpu_pct"] == 100.0
    assert got["analysis_windows_on_pct"] == [110.0, 120.0]
    assert got["analysis_other_cpu_pct"] == 10.0
    assert got["alert_latency_p50_s"] == 1.0 and got["alert_latency_p95_s"] == 3.0
    assert got["alert_latency_max_s"] == 3.0
    assert got["alert_raise_delay_p95_s"] == 2.0
    assert got["alert_onset_error_p95_s"] == 1.0
    assert got["alerts_injected"] == 3 and got["alerts_missed"] == 1
    assert got["analysis_incidents_on"] == {"camera_dark": 2, "no_face": 2}
    assert got["analysis_incidents_off"] == {}
    assert "after_s 0" in got["analysis_note"]


def test_without_an_analysis_part_there_are_no_analysis_figures() -> None:
    marks = {"recording": _mark(0, 0), "sent": _mark(10, 2)}
    run = Run(LoadResult([], 10.0), marks, marks, {}, {}, None, 0, {}, 0)
    assert analysis_figures(run) == {}


# -- --backends: PostgreSQL + S3 next to SQLite + disk ---------------------------------------


def _bench_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench_run.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "wrong"),
    [
        (["--database-url", "postgresql://u@h/db"], "--database-url: only with --backends"),
        (["--backends", "--viewers", "4"], "not with --viewers or --analysis"),
        (["--backends", "--analysis"], "not with --viewers or --analysis"),
        (["--backends", "--baseline-streams", "2"], "leave --baseline-streams out"),
        (["--backends", "--backend-rounds", "0"], "--backend-rounds must be at least 1"),
        (["--backends", "--database-url", "mysql://u@h/db"], "a postgresql:// URL"),
        (["--backends", "--storage-url", "file:///tmp/x"], "an s3:// URL"),
        (["--backends", "--storage-url", "s3://B?endpoint=x"], "--storage-url: storage_url"),
        (["--backends", "--storage-secret-key", "s"], "go with --storage-url"),
    ],
)
def test_backend_options_that_do_not_fit_are_refused_before_anything_runs(
    argv: list[str], wrong: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _bench_args(*argv)
    message = backends.check_args(args)
    assert message is not None and wrong in message
    assert bench_run.main(args) == 2  # before the clip is encoded or anything started
    assert wrong in capsys.readouterr().err


def test_backend_options_that_fit_are_taken() -> None:
    assert backends.check_args(_bench_args()) is None
    assert backends.check_args(_bench_args("--backends")) is None
    given = _bench_args(
        "--backends",
        "--database-url",
        "postgresql://bench:pw@db:5432/postgres",
        "--storage-url",
        "s3://exams/bench?endpoint=http://s3:8333&region=eu-1",
        "--storage-access-key",
        "a",
        "--storage-secret-key",
        "s",
    )
    assert backends.check_args(given) is None


def test_backend_turns_alternate_and_each_gets_its_own_database_and_prefix() -> None:
    assert backends.run_order(1) == ["sqlite_disk", "postgresql_s3"]
    assert backends.run_order(3) == [
        "sqlite_disk",
        "postgresql_s3",
        "postgresql_s3",
        "sqlite_disk",
        "sqlite_disk",
        "postgresql_s3",
    ]
    url = "s3://exams?endpoint=http://127.0.0.1:8333&region=us-east-1"
    assert backends.with_prefix(url, "run-1") == (
        "s3://exams/run-1?endpoint=http://127.0.0.1:8333&region=us-east-1"
    )
    assert (
        backends.with_prefix("s3://exams/a/b/?region=x", "run-2") == "s3://exams/a/b/run-2?region=x"
    )
    assert backends.database_named("postgres://u:p%40ss@h:5433/postgres", "bench_1") == (
        "postgresql://u:p%40ss@h:5433/bench_1"
    )


METRICS_TEXT = """\
# HELP examcast_object_store_bytes_total Bytes sent to the object store
# TYPE examcast_object_store_bytes_total counter
examcast_object_store_bytes_total{op="put"} 1000.0
examcast_object_store_bytes_total{op="put_file"} 3000.0
# HELP examcast_backend_call_seconds Calls
# TYPE examcast_backend_call_seconds histogram
examcast_backend_call_seconds_bucket{backend="s3",le="+Inf",op="put"} 7.0
examcast_backend_call_seconds_count{backend="s3",op="put"} 7.0
examcast_backend_call_seconds_sum{backend="s3",op="put"} 0.5
examcast_backend_call_seconds_count{backend="s3",op="head"} 3.0
examcast_backend_call_seconds_count{backend="postgresql",op="x"} 40.0
"""


def test_metrics_are_summed_over_the_labels_not_named() -> None:
    assert backends.metric_total(METRICS_TEXT, backends.BYTES, op="put") == 1000
    assert backends.metric_total(METRICS_TEXT, backends.BYTES) == 4000
    assert backends.metric_total(METRICS_TEXT, backends.CALLS, backend="s3") == 10
    assert backends.metric_total(METRICS_TEXT, "examcast_nothing_total") == 0


def _take(take_id: str, files: dict[str, bytes], complete: bool = True) -> dict[str, Any]:
    segments = [
        {"file": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for name, data in files.items()
    ]
    return {
        "take_id": take_id,
        "state": "stored",
        "complete": complete,
        "manifest": {"segments": segments},
    }


def _stream(index: int, take: dict[str, Any], sent: int = 300, written: int = 300) -> StreamResult:
    return StreamResult(index, sent, 500, written, 500, 1, 5.0, 1.0, take)


async def test_a_take_is_stored_complete_only_with_every_file_in_place_with_its_hash(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    good = _take("t1", {"segment-000.webm": b"a" * 100, "segment-001.webm": b"b" * 50})
    changed = _take("t2", {"segment-000.webm": b"c" * 100})
    missing = _take("t3", {"segment-000.webm": b"d" * 100})
    gap = _take("t4", {"segment-000.webm": b"e" * 100}, complete=False)
    short = _take("t5", {"segment-000.webm": b"f" * 100})
    files = {
        "t1": {"segment-000.webm": b"a" * 100, "segment-001.webm": b"b" * 50},
        "t2": {"segment-000.webm": b"x" * 100},  # not what its manifest says
        "t4": {"segment-000.webm": b"e" * 100},
        "t5": {"segment-000.webm": b"f" * 100},
    }  # t3's file is missing
    for take_id, named in files.items():
        for name, content in named.items():
            path = data / "recordings" / take_id / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    load = LoadResult(
        [
            _stream(0, good),
            _stream(1, changed),
            _stream(2, missing),
            _stream(3, gap),
            _stream(4, short, sent=300, written=299),  # a frame sent was not written
        ],
        10.0,
    )
    turn = backends.Turn("sqlite_disk", {}, data)
    stored = await backends.check_stored(turn, load, within_s=0.5)
    assert stored.complete == 1
    assert (stored.files, stored.files_in_place) == (6, 4)
    assert stored.pieces_left == 0


def test_a_turns_figures_and_the_summary_of_the_turns() -> None:
    # 2 streams, 10 s windows. sqlite_disk: the server used 0.2 core in the window and 0.01
    # CPU-s after it; postgresql_s3: 0.3 core, 0.05 CPU-s; 1 MB of pieces and 1.5 MB of files.
    def run(cpu_window: float, cpu_after: float) -> Run:
        takes = [_stream(i, _take(f"t{i}", {"segment-000.webm": b"x" * 125_000})) for i in range(2)]
        marks = {
            "recording": _mark(0, 0),
            "sent": _mark(10, cpu_window * 10),
            "stopped": _mark(11, cpu_window * 10 + cpu_after / 2),
            "settled": _mark(12, cpu_window * 10 + cpu_after),
        }
        return Run(
            LoadResult(takes, 10.0),
            marks,
            {p: _mark(m.wall, 0) for p, m in marks.items()},
            {p: m.cpu for p, m in marks.items()},
            {"InErrors": 0},
            0,
            100 << 20,
            {},
            120 << 20,
        )

    before = METRICS_TEXT
    after = (
        METRICS_TEXT.replace('op="put"} 1000.0', 'op="put"} 1001000.0')
        .replace('op="put_file"} 3000.0', 'op="put_file"} 1503000.0')
        .replace('backend="s3",op="put"} 7.0', 'backend="s3",op="put"} 27.0')
    )
    services = backends.Services("postgresql://x", "s3://b", "a", "s")

    def hooks(setup: str) -> backends.TurnHooks:
        h = backends.TurnHooks(backends.Turn(setup, {}, Path("/nowhere")), "", "", services)
        h.metrics_before, h.metrics_after = before, after
        h.stored = backends.Stored(complete=2, files=2, files_in_place=2, wait_s=0.4)
        if setup == "postgresql_s3":
            h.services_cpu = {"recording": (0, 1.0), "sent": (10, 1.4), "settled": (12, 1.5)}
        return h

    disk = backends.turn_figures(hooks("sqlite_disk"), run(0.2, 0.01), 2, 10)
    s3 = backends.turn_figures(hooks("postgresql_s3"), run(0.3, 0.05), 2, 10)
    assert disk["cpu_per_stream_pct"] == 10.0  # 20% of a core / 2 streams
    assert disk["after_stop_cpu_ms_per_take"] == 5.0
    assert disk["recorded_bytes_per_stream_s"] == 12_500  # 125 kB a take over 10 s
    assert "s3_bytes_per_stream_s" not in disk and "services_cpu_per_stream_pct" not in disk
    assert s3["cpu_per_stream_pct"] == 15.0
    assert s3["after_stop_cpu_ms_per_take"] == 25.0
    assert s3["s3_piece_bytes_per_stream_s"] == 50_000  # 1 MB / (2 streams x 10 s)
    assert s3["s3_file_bytes_per_stream_s"] == 75_000
    assert s3["s3_bytes_per_stream_s"] == 125_000
    assert s3["s3_requests_per_stream_s"] == 1.0  # 20 more calls / 20 stream-seconds
    assert s3["services_cpu_per_stream_pct"] == 2.0  # 0.4 CPU-s / 20 stream-seconds
    assert s3["services_after_stop_cpu_ms_per_take"] == 50.0
    assert s3["takes_stored_complete"] == 2 and s3["files_in_place"] == "2/2"

    later = dict(s3, cpu_per_stream_pct=17.0, after_stop_cpu_ms_per_take=35.0)
    slower_disk = dict(disk, cpu_per_stream_pct=14.0, takes_stored_complete=1)
    got = backends.summary([disk, s3, later, slower_disk])
    assert got["sqlite_disk"]["cpu_per_stream_pct"] == 12.0  # median of 10 and 14
    assert got["sqlite_disk"]["cpu_per_stream_pct_turns"] == [10.0, 14.0]
    assert got["postgresql_s3"]["cpu_per_stream_pct"] == 16.0
    assert got["postgresql_s3"]["s3_bytes_per_stream_s"] == 125_000
    assert got["cpu_ratio_postgresql_s3_vs_sqlite_disk"] == round(16 / 12, 3)
    assert got["after_stop_cpu_ratio_postgresql_s3_vs_sqlite_disk"] == 6.0  # 30 / 5
    assert got["sqlite_disk"]["takes"] == 4 and got["sqlite_disk"]["takes_stored_complete"] == 3
    assert got["all_takes_stored_complete"] is False
    assert backends.summary([disk, s3])["all_takes_stored_complete"] is True
