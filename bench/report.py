"""Turning one measured run into the bench's figures (docs/bench.md defines them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import measure
from bench.loadgen import DRAIN_S, LoadResult

COUNTING_NOTE = (
    "frames_sent counts the video frames each sender sent after its start_take was "
    "acknowledged; every stream starts at a keyframe, so the recorder could write all of "
    f"them. Senders stop, the bench waits {DRAIN_S}s for packets in flight, then calls "
    "stop_take. frames_written is the sum of the manifests' video 'frames'."
)
CPU_NOTE = (
    "cpu_per_stream_pct = server CPU seconds (user+system, all threads) between the first "
    "sender's start and the last sender's last frame / (streams x that window) x 100."
)
OTHER_NOTE = (
    "other_cpu_pct is what every other process on the machine used during the window, in "
    "percent of one core: more than a few percent means the figures were disturbed."
)
UDP_NOTE = (
    "udp_drops is the change of the kernel's UDP InErrors (which includes RcvbufErrors) "
    "over the run, for the whole machine or network namespace, not just the server; "
    "udp_drops_server_sockets is the drops column of the server's own UDP sockets."
)


@dataclass
class Run:
    """Everything measured around one load run."""

    load: LoadResult
    marks: dict[str, measure.CpuMark]
    loadgen_marks: dict[str, measure.CpuMark]
    machine_busy: dict[str, float]
    udp: dict[str, int]
    socket_drops: int | None
    rss_idle: int
    rss_at: dict[str, int]  # sampled at each phase
    rss_peak: int


def figures(run: Run, streams: int, seconds: int) -> dict[str, Any]:
    results = run.load.streams
    start, end = run.marks["recording"], run.marks["sent"]
    window = end.wall - start.wall
    server_cpu = end.cpu - start.cpu
    server_pct, loop_pct = measure.pct_of_core(start, end)
    loadgen_pct, _ = measure.pct_of_core(run.loadgen_marks["recording"], run.loadgen_marks["sent"])
    busy = run.machine_busy["sent"] - run.machine_busy["recording"]
    loadgen_cpu = run.loadgen_marks["sent"].cpu - run.loadgen_marks["recording"].cpu
    other_pct = (busy - server_cpu - loadgen_cpu) / window * 100
    sent = sum(r.video_sent for r in results)
    written = sum(r.video_written for r in results)
    short = [r.video_sent - r.video_written for r in results]
    lags = [r.max_lag_ms for r in results if r.max_lag_ms is not None]
    return {
        "streams": streams,
        "seconds": seconds,
        "frames_sent": sent,
        "frames_written": written,
        "written_ratio": round(written / sent, 5) if sent else None,
        "frames_missing": sum(max(0, s) for s in short),
        "streams_missing_frames": sum(1 for s in short if s > 0),
        "streams_missing_over_one_frame": sum(1 for s in short if s > 1),
        "audio_frames_sent": sum(r.audio_sent for r in results),
        "audio_frames_written": sum(r.audio_written for r in results),
        "segments": sum(r.segments for r in results),
        "cpu_per_stream_pct": round(server_cpu / (streams * window) * 100, 3),
        "server_cpu_pct": round(server_pct, 1),
        "server_loop_thread_pct": round(loop_pct, 1),
        "max_recorder_lag_ms": max(lags) if lags else None,
        "udp_drops": run.udp.get("InErrors", 0),
        "udp_counters": run.udp,
        "udp_drops_server_sockets": run.socket_drops,
        "peak_rss_mb": measure.mib(run.rss_peak),
        "idle_rss_mb": measure.mib(run.rss_idle),
        "connected_rss_mb": measure.mib(run.rss_at.get("connected", 0)),
        "rss_per_stream_mb": round((run.rss_peak - run.rss_idle) / streams / 2**20, 2),
        "loadgen_cpu_pct": round(loadgen_pct, 1),
        "other_cpu_pct": round(max(0.0, other_pct), 1),
        "loadgen_max_late_ms": max((r.late_ms for r in results), default=0.0),
        "window_s": round(window, 3),
        "notes": [COUNTING_NOTE, CPU_NOTE, UDP_NOTE, OTHER_NOTE],
    }
