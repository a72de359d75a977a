"""A take continued after its node died (media.continuation): the recorder here numbers its
segments after the prior files, writes nothing before the prior media ends, and its manifest
is the prior part, a ``node_lost`` gap, then its own. Real encoded frames, a real mux pool."""

from __future__ import annotations

from pathlib import Path

import av

from media.continuation import Prior, left_behind, next_index, priors
from media.recorder import TakeRecorder
from media.writer import MuxPool
from tests.support.encoded import opus_packets, video_packets
from tests.unit.media.test_recorder import FeedSource, interleaved

PRIOR_SEGMENTS = [
    {"index": 0, "file": "segment-000.webm", "start_s": 0.1, "duration_s": 1.4, "picture_s": 1.4},
    {"index": 1, "file": "segment-001.webm", "start_s": 2.0, "duration_s": 1.0, "picture_s": 1.0},
]


def test_the_prior_part_of_each_camera_from_what_recovery_found(tmp_path: Path) -> None:
    for name in ("segment-000.webm", "segment-001.webm", "segment-004.mkv", "x.webm"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "secondary").mkdir()
    (tmp_path / "secondary" / "segment-000.webm").write_bytes(b"")
    assert next_index(tmp_path) == 5  # after every file, recovered or not
    assert next_index(tmp_path / "absent") == 0
    recovered = {
        "segments": PRIOR_SEGMENTS,
        "recorded_s": 2.4,
        "cameras": {"secondary": {"segments": [{**PRIOR_SEGMENTS[0], "start_s": 0.3}]}},
    }
    found = priors(recovered, tmp_path)
    primary, secondary = found["primary"], found["secondary"]
    assert (primary.end_s, primary.first_index, primary.recorded_s) == (3.0, 5, 2.4)
    assert primary.gaps == [{"start_s": 1.5, "end_s": 2.0, "reason": "media_lost"}]
    assert (secondary.end_s, secondary.first_index) == (1.7, 1)
    # A camera that did not come back to this node keeps its part, lost to the stop.
    part = left_behind(secondary, 9.0)
    assert part["segments"] == secondary.segments
    assert part["gaps"][-1] == {"start_s": 1.7, "end_s": 9.0, "reason": "node_lost"}


async def test_the_recorder_continues_after_the_prior_part(tmp_path: Path) -> None:
    pool = MuxPool(1)
    try:
        prior = Prior(PRIOR_SEGMENTS, [], end_s=3.0, first_index=2, recorded_s=2.4)
        recorder = TakeRecorder(
            "t", tmp_path, pool, queue_limit=1 << 24, keyframe_interval=0.05, prior=prior
        )
        assert recorder.written_s() == 2.4  # what the take holds so far: the page's counter
        # This node's frames start at 2 s of the take's clock: a moment the dead node had.
        video = FeedSource("video", "vp8", recorder.origin + 2.0)
        audio = FeedSource("audio", "opus", recorder.origin + 2.0)
        recorder.attach([video, audio], reason="node_lost")  # type: ignore[list-item]
        for kind, data, ts in interleaved(
            video_packets("vp8", 120, 320, 240, gop=15), opus_packets(200)
        ):
            (video if kind == "video" else audio).feed(data, ts)
        manifest = await recorder.stop()
    finally:
        pool.shutdown()
    old, new = manifest["segments"][:2], manifest["segments"][2:]
    assert old == PRIOR_SEGMENTS and new
    first = new[0]
    assert (first["index"], first["file"], first["reason"]) == (2, "segment-002.webm", "node_lost")
    assert first["start_s"] >= 3.0  # nothing recorded twice on the take's clock
    assert manifest["gaps"][0] == {"start_s": 3.0, "end_s": first["start_s"], "reason": "node_lost"}
    assert manifest["recorded_s"] > 2.4
    with av.open(str(tmp_path / first["file"])) as f:
        assert sum(1 for p in f.demux(video=0) if p.size) > 0
