"""Turning one measured run into the bench's figures (docs/bench.md defines them)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench import measure
from bench.loadgen import DRAIN_S, LoadResult
from bench.viewers import viewer_figures

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
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, bytes)
    lag: dict[str, Any] = field(default_factory=dict)  # bench.lag.lag_figures, when read


LOADGEN_BOUND_CPU_PCT = 90.0
LOADGEN_BOUND_LATE_MS = 500.0


def loadgen_bound(cpu_pct: float, max_late_ms: float) -> bool:
    """Whether the load generator, not the server, was the limit: its core nearly full, or
    a sender half a second behind its schedule (it then sends its backlog in a burst, which
    can overflow the server's socket buffers and lose frames the server would have kept)."""
    return cpu_pct >= LOADGEN_BOUND_CPU_PCT or max_late_ms >= LOADGEN_BOUND_LATE_MS


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
        **run.lag,
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
        "loadgen_bound": loadgen_bound(
            round(loadgen_pct, 1), max((r.late_ms for r in results), default=0.0)
        ),
        "window_s": round(window, 3),
        "notes": [COUNTING_NOTE, CPU_NOTE, UDP_NOTE, OTHER_NOTE],
    }


LIVE_NOTE = (
    "Live figures are measured after the recording window while every candidate goes on "
    "sending. viewer_cpu_per_stream_pct = (server CPU over the viewer window - the "
    "candidates-only rate of the recording window) / viewer_streams, in percent of one core; "
    "wall_cpu_per_camera_pct = (server CPU over the wall window - its rate over the "
    "window of the same length just before, nobody watching) / cameras watched; "
    "wall_picture_cpu_per_camera_pct: the server's own count of its pictures' CPU over the "
    "wall window (decoding, scaling, JPEG, the loop's part; not the keyframes' packets) / "
    "cameras watched. "
    "viewer_frames_delivered_ratio counts the frames sent in the viewer window that reached "
    "their viewer; glass-to-glass is from the sender handing a frame over to its last RTP "
    "packet reaching the viewer (each frame named by its bytes, or its barcode where the "
    "server re-encodes). spotlight_first_picture_ms: from open_session to the first "
    "keyframe at the viewer, median of 5 viewers opened one at a time after the viewer "
    "window while the others still watch (_ramp_: of the viewers opened 8 at a time). "
    "wall_picture_age_p95_s: "
    "now - the picture's taken_at, sampled every 0.25 s per camera over the wall window."
)


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0-100), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _rate(run: Run, start: str, end: str) -> float | None:
    """The server's CPU between two phases, in percent of one core (all threads)."""
    if start not in run.marks or end not in run.marks:
        return None
    return measure.pct_of_core(run.marks[start], run.marks[end])[0]


def live_figures(run: Run) -> dict[str, Any]:
    """The viewer and wall figures of a run with a live part (docs/bench.md)."""
    live = run.load.live
    if live is None:
        return {}
    alone = _rate(run, "recording", "sent")
    out: dict[str, Any] = {"viewer_streams": len(live.viewer_logs)}
    viewers = len(live.viewer_logs)
    if viewers and live.viewer_window is not None and alone is not None:
        seen = viewer_figures(live.viewer_logs, run.load.sent_at, *live.viewer_window)
        clicks = viewer_figures(live.click_logs, run.load.sent_at, *live.viewer_window)
        during = _rate(run, "viewers", "viewers_end")
        assert during is not None
        sent_mark = run.marks["sent"].wall
        end_mark = run.marks["viewers_end"].wall
        peak = max(
            (rss for at, rss in run.rss_samples if sent_mark <= at <= end_mark),
            default=run.rss_at.get("viewers_end", 0),
        )
        base_rss = run.rss_at.get("sent", 0)
        loadgen = measure.pct_of_core(
            run.loadgen_marks["viewers"], run.loadgen_marks["viewers_end"]
        )[0]
        out.update(
            viewer_cpu_per_stream_pct=round((during - alone) / viewers, 3),
            viewer_frames_delivered_ratio=(
                round(seen.delivered / seen.expected, 5) if seen.expected else None
            ),
            glass_to_glass_p50_ms=_round(percentile(seen.latencies_ms, 50), 1),
            glass_to_glass_p95_ms=_round(percentile(seen.latencies_ms, 95), 1),
            viewer_rss_per_stream_mb=round(max(0, peak - base_rss) / viewers / 2**20, 2),
            spotlight_first_picture_ms=_median(clicks.first_picture_ms),
            spotlight_first_picture_max_ms=_round(max(clicks.first_picture_ms, default=None), 1),
            spotlight_connected_ms=_median(clicks.connect_ms),
            spotlight_clicks_without_picture=len(live.click_logs) - len(clicks.first_picture_ms),
            spotlight_first_picture_ramp_p50_ms=_median(seen.first_picture_ms),
            spotlight_first_picture_ramp_p95_ms=_round(percentile(seen.first_picture_ms, 95), 1),
            viewers_without_picture=viewers - len(seen.first_picture_ms),
            viewer_frames_expected=seen.expected,
            viewer_frames_delivered=seen.delivered,
            glass_to_glass_max_ms=_round(max(seen.latencies_ms, default=None), 1),
            viewer_frames_unidentified=seen.unidentified,
            viewer_arrivals_at_handover=seen.marks_missing,
            viewer_audio_frames=seen.audio_frames,
            viewer_server_cpu_pct=round(during, 1),
            viewer_loadgen_cpu_pct=round(loadgen, 1),
            viewer_window_s=round(live.viewer_window[1] - live.viewer_window[0], 3),
        )
    wall = live.wall_log
    if wall is not None and alone is not None:
        during = _rate(run, "wall", "wall_end")
        assert during is not None
        reference = _rate(run, "wall_alone", "wall_alone_end")
        base = alone if reference is None else reference
        out.update(
            wall_cameras=wall.cameras,
            wall_cpu_per_camera_pct=round((during - base) / max(1, wall.cameras), 3),
            wall_cpu_per_camera_vs_recording_pct=round((during - alone) / max(1, wall.cameras), 3),
            wall_reference_server_cpu_pct=None if reference is None else round(reference, 1),
            wall_picture_age_p95_s=_round(percentile(wall.ages_s, 95), 2),
            wall_picture_age_p50_s=_round(percentile(wall.ages_s, 50), 2),
            wall_first_picture_s=(
                round(statistics.median(wall.first_picture_s), 2) if wall.first_picture_s else None
            ),
            wall_cameras_without_picture=wall.cameras - len(wall.first_picture_s),
            wall_pictures_fetched=wall.pictures,
            wall_pictures_pushed=wall.pushed,
            wall_pictures_not_jpeg=wall.not_jpeg,
            wall_picture_statuses=dict(sorted(wall.statuses.items())),
            wall_server_cpu_pct=round(during, 1),
            wall_picture_cpu_per_camera_pct=_picture_cpu_pct(live.wall_picture_cpu, wall.cameras),
        )
    out["candidates_only_server_cpu_pct"] = None if alone is None else round(alone, 1)
    out["live_note"] = LIVE_NOTE
    return out


def _picture_cpu_pct(cpu: tuple[float, float] | None, cameras: int) -> float | None:
    """The wall's pictures by the server's own count: % of a core a camera."""
    if cpu is None or cpu[1] <= 0:
        return None
    return round(100 * cpu[0] / cpu[1] / max(1, cameras), 3)


ANALYSIS_NOTE = (
    "Analysis figures (--analysis): after the recording window every candidate answers an "
    "exam question (the admission journey over HTTP, its device check the take just "
    "stored; the formal answer; formal takes started and stopped by hand), in rounds of a "
    "window with the exam's monitoring off (every rule disabled) and one with it on (the "
    "defaults, camera_dark at after_s 0). analysis_cpu_per_stream_pct = (median server CPU "
    "of the on-windows - median of the off-windows) / streams, in percent of one core, all "
    "threads; _loop_ is the event loop thread's share, _threads_ the rest (picture "
    "decoding, judging). In every window the first analysis_dark_streams cameras go black "
    "at a known moment (spread over one 2.5 s picture interval); "
    "alert_latency_p50_s/_p95_s: a camera_dark incident's raised_at - that true onset, "
    "over the on-windows (after_s is 0, so all of it is the system's: the wait for the "
    "next picture, judging, raising). alert_raise_delay_p95_s: raised_at - the incident's "
    "own started_at; alert_onset_error_p95_s: its started_at - the true onset."
)


def analysis_figures(run: Run) -> dict[str, Any]:
    """The detectors' cost and alert latency of a run with ``--analysis`` (docs/bench.md)."""
    found = run.load.analysis
    if found is None:
        return {}
    streams = max(1, found.streams)
    rates: dict[str, list[float]] = {"off": [], "on": []}
    loops: dict[str, list[float]] = {"off": [], "on": []}
    others: list[float] = []
    for w in found.windows:
        start, end = run.marks.get(w.start), run.marks.get(w.end)
        if start is None or end is None:
            continue
        total, loop = measure.pct_of_core(start, end)
        rates[w.mode].append(total)
        loops[w.mode].append(loop)
        busy = run.machine_busy[w.end] - run.machine_busy[w.start]
        loadgen = run.loadgen_marks[w.end].cpu - run.loadgen_marks[w.start].cpu
        others.append((busy - (end.cpu - start.cpu) - loadgen) / (end.wall - start.wall) * 100)
    out: dict[str, Any] = {"analysis_streams": found.streams}
    if rates["off"] and rates["on"]:
        on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
        loop_on, loop_off = statistics.median(loops["on"]), statistics.median(loops["off"])
        out.update(
            analysis_cpu_per_stream_pct=round((on - off) / streams, 3),
            analysis_loop_cpu_per_stream_pct=round((loop_on - loop_off) / streams, 3),
            analysis_threads_cpu_per_stream_pct=round(
                ((on - loop_on) - (off - loop_off)) / streams, 3
            ),
            analysis_on_server_cpu_pct=round(on, 1),
            analysis_off_server_cpu_pct=round(off, 1),
            analysis_windows_on_pct=[round(x, 1) for x in rates["on"]],
            analysis_windows_off_pct=[round(x, 1) for x in rates["off"]],
            analysis_other_cpu_pct=round(max(0.0, max(others)), 1),
        )
    on_takes = {t for w in found.windows if w.mode == "on" for t in w.takes.values()}
    off_takes = {t for w in found.windows if w.mode == "off" for t in w.takes.values()}
    raised = {
        (i.get("candidate_id"), i.get("take_id")): i
        for i in found.incidents
        if i.get("kind") == "camera_dark"
    }
    latency, delay, error = [], [], []
    injected = [x for x in found.injections if x.mode == "on"]
    for x in injected:
        incident = raised.get((x.candidate_id, x.take_id))
        if incident is None:
            continue
        latency.append(float(incident["raised_at"]) - x.onset)
        delay.append(float(incident["raised_at"]) - float(incident["started_at"]))
        error.append(float(incident["started_at"]) - x.onset)
    kinds: dict[str, dict[str, int]] = {"on": {}, "off": {}}
    for i in found.incidents:
        mode = (
            "on"
            if i.get("take_id") in on_takes
            else "off"
            if i.get("take_id") in off_takes
            else None
        )
        if mode is not None:
            kinds[mode][str(i.get("kind"))] = kinds[mode].get(str(i.get("kind")), 0) + 1
    out.update(
        alert_latency_p50_s=_round(percentile(latency, 50), 2),
        alert_latency_p95_s=_round(percentile(latency, 95), 2),
        alert_latency_max_s=_round(max(latency, default=None), 2),
        alert_raise_delay_p95_s=_round(percentile(delay, 95), 2),
        alert_onset_error_p95_s=_round(percentile(error, 95), 2),
        alerts_injected=len(injected),
        alerts_missed=len(injected) - len(latency),
        analysis_incidents_on=kinds["on"],
        analysis_incidents_off=kinds["off"],
        analysis_note=ANALYSIS_NOTE,
    )
    return out
