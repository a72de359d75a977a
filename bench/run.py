"""``examcast bench``: N simulated candidates against a real server, and a baseline.

The server (``examcast serve``) runs in its own process on CPU 0, the load
generator in this one on CPU 1 (when there are two). The same load is then
run against a baseline server that records with aiortc's ``MediaRecorder``.
With ``--viewers M`` the candidates go on streaming after that while M
viewer sessions watch them through the server's relay, then a proctor
watches the exam's wall (:mod:`bench.live`); the same is measured against a
plain aiortc server relaying with ``MediaRelay`` (``bench.baseline --relay``).
With ``--backends`` the recording alone is measured instead, in turns on SQLite + local
disk and on PostgreSQL + S3-compatible storage (:mod:`bench.backends`).
Progress goes to stderr; the figures are one JSON object, the last line of
stdout. docs/bench.md explains each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

from bench import backends, capacity, measure, proctors
from bench.analysis import AnalysisPlan
from bench.analysis import seed as seed_analysis
from bench.backends import BackendsFailed, Services, TurnHooks
from bench.clip import PREVIEW_FPS, Clip, make_black, make_clip, make_preview
from bench.lag import WINDOW_S, LagSampler
from bench.live import LiveFailed, LivePlan, proctors_needed
from bench.loadgen import LoadFailed, Target, loopback_only, run_load
from bench.process import ServerFailed, ServerProcess, free_port
from bench.report import Run, analysis_figures, figures, live_figures
from bench.spawn import serve_args
from bench.viewers import pass_through

SERVER_CPU, LOADGEN_CPU = 0, 1
ON_REQUEST_CLIP_S = 20  # --keyframes on-request: the clip's own keyframe only every 20 s
ANALYSIS_SETTLE_S = 4.0  # takes started, before a window is measured: first pictures
WALL_PICTURE_CPU = "examcast_wall_picture_cpu_seconds_total"  # the server's count (web/metrics.py)
# The bench's node refuses no camera for its loop's lag (camera_refuse_lag_ms): it measures
# what a node does with every stream asked of it, past its capacity too (--capacity).
NO_ADMISSION = ("--camera-refuse-lag-ms", "0")


def preview_asked(args: argparse.Namespace) -> tuple[str, ...]:
    """The server's ``wall_preview_fps`` for ``--preview``: whether it asks pages for one."""
    return ("--wall-preview-fps", str(PREVIEW_FPS if args.preview == "on" else 0))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--streams",
        type=int,
        default=8,
        help="simulated candidates, each sending VP8 + Opus (default 8)",
    )
    parser.add_argument(
        "--seconds", type=int, default=10, help="how long each candidate records (default 10)"
    )
    parser.add_argument(
        "--baseline-streams",
        type=int,
        default=None,
        help="candidates for the MediaRecorder baseline (default min(streams, 2); 0 skips it)",
    )
    parser.add_argument(
        "--viewers",
        type=int,
        default=0,
        help="viewer sessions watching the candidates through the server's relay, then a "
        "proctor watching the exam's wall (default 0: neither)",
    )
    parser.add_argument(
        "--viewer-seconds",
        type=int,
        default=10,
        help="how long the viewers, then the wall, are measured (default 10)",
    )
    parser.add_argument(
        "--baseline-viewers",
        type=int,
        default=None,
        help="viewers for the MediaRelay baseline (default min(viewers, 4); 0 skips it)",
    )
    parser.add_argument(
        "--analysis",
        action="store_true",
        help="after the recording window, the candidates record takes of an exam question "
        "in windows with the exam's monitoring off and on: the detectors' CPU per stream and "
        "the alert latency (bench/analysis.py)",
    )
    parser.add_argument(
        "--analysis-rounds",
        type=int,
        default=2,
        help="pairs of windows (monitoring off, on) for --analysis (default 2)",
    )
    parser.add_argument(
        "--analysis-seconds",
        type=int,
        default=15,
        help="how long each --analysis window is measured (default 15)",
    )
    parser.add_argument(
        "--analysis-dark",
        type=int,
        default=8,
        help="cameras that go black in each --analysis window (default 8, at most --streams)",
    )
    parser.add_argument(
        "--keyframes",
        choices=("clip", "on-request"),
        default="clip",
        help="clip: the clip's own keyframe every 2.5 s (default); on-request: as Chromium "
        "sends, a keyframe only when the server asks (and where the 20 s clip starts over)",
    )
    parser.add_argument(
        "--preview",
        choices=("on", "off"),
        default="on",
        help="on (as the server's default): the server asks for the wall preview "
        "(--wall-preview-fps 5) and the candidates send it (320x240, 5 fps), the wall decoding "
        "its keyframes; off: the camera's track alone (the wall decodes the camera's keyframes)",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra argument for `examcast serve` (repeatable), "
        "e.g. --server-arg=--event-loop --server-arg=asyncio",
    )
    backends.add_arguments(parser)
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="step the stream count up until a frame is lost or the recorder's p99 lag "
        "passes 1 s; print capacity_streams, and the MediaRecorder baseline's (bench/capacity.py)",
    )
    parser.add_argument(
        "--capacity-start", type=int, default=32, help="--capacity: the first count (default 32)"
    )
    parser.add_argument(
        "--capacity-max", type=int, default=256, help="--capacity: the largest count (default 256)"
    )
    parser.add_argument(
        "--capacity-resolution",
        type=int,
        default=8,
        help="--capacity: stop when the last count that held and the first that failed are "
        "this close (default 8)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the data directory (recordings, server logs)"
    )


def main(args: argparse.Namespace) -> int:
    if args.streams < 1 or args.seconds < 1:
        print("examcast bench: --streams and --seconds must be at least 1", file=sys.stderr)
        return 2
    if args.analysis and args.viewers:
        print("examcast bench: --analysis and --viewers are separate runs", file=sys.stderr)
        return 2
    if args.analysis_rounds < 1 or args.analysis_seconds < 1 or args.analysis_dark < 0:
        print(
            "examcast bench: --analysis-rounds and --analysis-seconds must be at least 1, "
            "--analysis-dark not negative",
            file=sys.stderr,
        )
        return 2
    if args.viewers < 0 or args.viewer_seconds < 1:
        print(
            "examcast bench: --viewers must not be negative, --viewer-seconds at least 1",
            file=sys.stderr,
        )
        return 2
    wrong = backends.check_args(args) or _check_capacity(args)
    if wrong is not None:
        print(f"examcast bench: {wrong}", file=sys.stderr)
        return 2
    baseline_streams = (
        min(args.streams, 2) if args.baseline_streams is None else args.baseline_streams
    )
    cpus = sorted(os.sched_getaffinity(0))
    placement = _placement(cpus)
    if args.keyframes == "on-request":
        progress("encoding the clip (VP8 640x480 30 fps + Opus, 20 s, looped, keyframes asked)")
        clip = make_clip(ON_REQUEST_CLIP_S, keyframe_every=None)
    else:
        progress("encoding the clip (VP8 640x480 30 fps + Opus, 10 s, looped)")
        clip = make_clip()
    progress(f"clip: {clip.describe()}")
    preview = None
    if args.preview == "on":
        progress("encoding the wall preview (VP8 320x240 5 fps, keyframes asked)")
        preview = make_preview(len(clip.video))
        progress(f"preview: {preview.describe()}")
    if placement is not None:
        measure.pin(os.getpid(), placement[1])
    loopback_only()
    if args.viewers:
        pass_through()  # viewers here never decode for the figures (bench/viewers.py)
    work = Path(tempfile.mkdtemp(prefix="examcast-bench-"))
    try:
        if args.backends:
            result = _runner()(_bench_backends(args, clip, preview, work, placement))
        elif args.capacity:
            result = _runner()(_bench_capacity(args, clip, preview, work, placement))
        else:
            result = _runner()(_bench(args, baseline_streams, clip, preview, work, placement))
    except (ServerFailed, LoadFailed, LiveFailed, BackendsFailed, TimeoutError) as exc:
        progress(f"failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        if args.keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


def _check_capacity(args: argparse.Namespace) -> str | None:
    if not args.capacity:
        return None
    if args.backends or args.viewers or args.analysis:
        return "--capacity is a run of its own (not with --backends, --viewers, --analysis)"
    if not 1 <= args.capacity_start <= args.capacity_max or args.capacity_resolution < 1:
        return "--capacity needs 1 <= --capacity-start <= --capacity-max, a resolution >= 1"
    return None


def lag_sampler(url: str, token: str, window_s: float = WINDOW_S) -> LagSampler:
    """Reads the server's recorder-lag histogram every ``window_s`` (bench/lag.py)."""
    return LagSampler(lambda: backends.scrape(url, token), window_s)


async def picture_cpu(url: str, token: str) -> float:
    """The server's CPU seconds of wall pictures so far (``/metrics``)."""
    return backends.metric_total(await backends.scrape(url, token), WALL_PICTURE_CPU)


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _placement(cpus: list[int]) -> tuple[set[int], set[int]] | None:
    """(server CPUs, load generator CPUs), or None with a single CPU."""
    if len(cpus) < 2:
        return None
    if SERVER_CPU in cpus and LOADGEN_CPU in cpus:
        return {SERVER_CPU}, {LOADGEN_CPU}
    return {cpus[0]}, {cpus[1]}


def _runner() -> Callable[[Any], Any]:
    """Run a coroutine on uvloop when it is installed: the load generator must keep up."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run

    def run(coro: Any) -> Any:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)

    return run


def _event_loop(server_args: list[str]) -> str:
    loop = "uvloop"
    for i, arg in enumerate(server_args):
        if arg == "--event-loop" and i + 1 < len(server_args):
            loop = server_args[i + 1]
        elif arg.startswith("--event-loop="):
            loop = arg.split("=", 1)[1]
    return loop


async def _bench(
    args: argparse.Namespace,
    baseline_streams: int,
    clip: Clip,
    preview: Clip | None,
    work: Path,
    placement: tuple[set[int], set[int]] | None,
) -> dict[str, Any]:
    loop_name = _event_loop(args.server_arg)
    port = free_port()
    data_dir = work / "examcast"
    # the live part: two windows, the ramp-up (about a second a viewer when busy), slack
    live_s = 2 * args.viewer_seconds + args.viewers + 60 if args.viewers else 0
    analysis_s = (
        round(args.analysis_rounds * 2 * (args.analysis_seconds + ANALYSIS_SETTLE_S + 30)) + 120
        if args.analysis
        else 0
    )
    live_s += analysis_s
    staff = ("--staff-two-factor", "optional") if args.viewers or args.analysis else ()
    serve = serve_args(
        port,
        data_dir,
        "--device-check-limit-s",
        str(max(120, args.seconds + live_s + 120)),
        "--log-level",
        "warning",
        *NO_ADMISSION,
        *preview_asked(args),
        *staff,
        *args.server_arg,
    )
    token = secrets.token_hex(16)
    server = ServerProcess(
        "examcast serve",
        serve,
        work / "examcast.log",
        placement[0] if placement else None,
        env={"EXAMCAST_METRICS_TOKEN": token},
    )
    url = f"http://127.0.0.1:{port}"
    live = None
    if args.viewers:

        async def live_plan() -> LivePlan:
            progress(f"examcast: an exam with proctors for {args.viewers} viewers and a wall")
            seeded = await proctors.seed(
                url,
                data_dir,
                work / "examcast.log",
                args.streams,
                proctors_needed(args.viewers, wall=True),
            )
            return LivePlan(
                args.viewers,
                args.viewer_seconds,
                True,
                seeded.exam_id,
                seeded.proctor_cookies,
                True,
                lambda: picture_cpu(url, token),
            )

        live = live_plan
    analysis = None
    if args.analysis:

        async def analysis_plan() -> AnalysisPlan:
            progress("examcast: an exam with an online question for every candidate")
            exam_id, body, admin, proctor = await seed_analysis(
                url, data_dir, work / "examcast.log", args.streams, args.analysis_rounds
            )
            return AnalysisPlan(
                exam_id,
                body,
                admin,
                proctor,
                args.analysis_rounds,
                args.analysis_seconds,
                ANALYSIS_SETTLE_S,
                min(args.analysis_dark, args.streams),
                make_black(),
            )

        analysis = analysis_plan
    main_run = await _measure(
        server,
        Target("examcast", url, work / "examcast.log"),
        clip,
        args.streams,
        args.seconds,
        live,
        analysis,
        lag=lag_sampler(url, token),
        preview=preview,
    )
    result = figures(main_run, args.streams, args.seconds)
    result.update(live_figures(main_run))
    result.update(analysis_figures(main_run))
    result.update(
        event_loop=loop_name,
        server_args=serve[2:],
        clip=clip.describe(),
        preview=_described(preview),
    )
    result["pinning"] = (
        {"server_cpus": sorted(placement[0]), "loadgen_cpus": sorted(placement[1])}
        if placement
        else "one CPU: server and load generator share it"
    )
    if baseline_streams > 0:
        port = free_port()
        baseline = ServerProcess(
            "baseline",
            [
                "-m",
                "bench.baseline",
                "--port",
                str(port),
                "--dir",
                str(work / "baseline"),
                "--event-loop",
                loop_name,
            ],
            work / "baseline.log",
            placement[0] if placement else None,
        )
        base_run = await _measure(
            baseline,
            Target("baseline", f"http://127.0.0.1:{port}", None),
            clip,
            baseline_streams,
            args.seconds,
        )
        base = figures(base_run, baseline_streams, args.seconds)
        del base["notes"]
        base["note"] = (
            "aiortc MediaRecorder (decode + re-encode with libvpx/libopus, on its event loop) "
            f"with the same load generator, run with {baseline_streams} stream(s): the design "
            "notes measured it keeping up with about one stream per core, so it runs with fewer "
            "streams than the main run. Its max_recorder_lag_ms is how late frames reached the "
            "encoder against the media clock."
        )
        result["baseline"] = base
        if base["cpu_per_stream_pct"]:
            result["cpu_ratio_vs_baseline"] = round(
                result["cpu_per_stream_pct"] / base["cpu_per_stream_pct"], 3
            )
    relay_viewers = min(args.viewers, 4) if args.baseline_viewers is None else args.baseline_viewers
    if args.viewers and relay_viewers > 0:
        result["relay_baseline"] = await _relay_baseline(
            args, relay_viewers, clip, work, placement, loop_name
        )
        ours = result.get("viewer_cpu_per_stream_pct")
        theirs = result["relay_baseline"].get("viewer_cpu_per_stream_pct")
        if ours is not None and theirs:
            result["viewer_cpu_ratio_vs_relay_baseline"] = round(ours / theirs, 3)
    return result


async def _bench_capacity(
    args: argparse.Namespace,
    clip: Clip,
    preview: Clip | None,
    work: Path,
    placement: tuple[set[int], set[int]] | None,
) -> dict[str, Any]:
    """``--capacity``: steps of a fresh server each until the capacity is known."""
    loop_name = _event_loop(args.server_arg)
    cpus = placement[0] if placement else None
    window_s = min(WINDOW_S, max(1.0, args.seconds / 3))
    load_before = capacity.load_average()

    async def ours(streams: int) -> dict[str, Any]:
        folder = work / f"examcast-{streams}"
        port, token = free_port(), secrets.token_hex(16)
        serve = serve_args(
            port,
            folder / "examcast",
            "--device-check-limit-s",
            str(max(120, args.seconds + 120)),
            "--log-level",
            "warning",
            *NO_ADMISSION,
            *preview_asked(args),
            *args.server_arg,
        )
        server = ServerProcess(
            "examcast serve",
            serve,
            folder / "examcast.log",
            cpus,
            env={"EXAMCAST_METRICS_TOKEN": token},
        )
        url = f"http://127.0.0.1:{port}"
        run = await _measure(
            server,
            Target(f"examcast {streams}", url, folder / "examcast.log"),
            clip,
            streams,
            args.seconds,
            lag=lag_sampler(url, token, window_s),
            preview=preview,
        )
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        return figures(run, streams, args.seconds)

    async def theirs(streams: int) -> dict[str, Any]:
        folder = work / f"baseline-{streams}"
        port = free_port()
        server = ServerProcess(
            "baseline",
            _baseline_argv(port, folder / "baseline", loop_name),
            folder / "baseline.log",
            cpus,
        )
        run = await _measure(
            server,
            Target(f"baseline {streams}", f"http://127.0.0.1:{port}", None),
            clip,
            streams,
            args.seconds,
        )
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        return figures(run, streams, args.seconds)

    plan = capacity.CapacitySearch(args.capacity_start, args.capacity_max, args.capacity_resolution)
    result: dict[str, Any] = {"mode": "capacity", "seconds": args.seconds}
    failures = (LoadFailed, ServerFailed, TimeoutError)
    result.update(await capacity.search(plan, ours, progress, step_errors=failures))
    result["lag_window_s"] = round(window_s, 1)
    if args.baseline_streams != 0:
        base_plan = capacity.CapacitySearch(1, max(2, args.baseline_streams or 4), 1, growth=2)
        base = await capacity.search(
            base_plan, theirs, progress, baseline=True, name="baseline", step_errors=failures
        )
        result["baseline"] = {
            **base,
            "note": "aiortc MediaRecorder (decode + re-encode), stepped from 1 stream, one at a "
            "time; held: every frame written and max_recorder_lag_ms (how late frames "
            "reached its encoder) at most 1000",
        }
        result["baseline_capacity_streams"] = base["capacity_streams"]
        if base["capacity_streams"]:
            result["capacity_ratio_vs_baseline"] = round(
                result["capacity_streams"] / base["capacity_streams"], 1
            )
    result.update(
        load_average_1m_before=load_before,
        load_average_1m_after=capacity.load_average(),
        event_loop=loop_name,
        server_args=args.server_arg,
        clip=clip.describe(),
        preview=_described(preview),
        pinning={"server_cpus": sorted(placement[0]), "loadgen_cpus": sorted(placement[1])}
        if placement
        else "one CPU: server and load generator share it",
        note=capacity.NOTE,
    )
    return result


def _described(preview: Clip | None) -> dict[str, object] | None:
    """The wall preview the candidates sent (``--preview on``), for the figures."""
    return None if preview is None else preview.describe()


def _baseline_argv(port: int, directory: Path, loop_name: str) -> list[str]:
    return [
        "-m",
        "bench.baseline",
        "--port",
        str(port),
        "--dir",
        str(directory),
        "--event-loop",
        loop_name,
    ]


async def _bench_backends(
    args: argparse.Namespace,
    clip: Clip,
    preview: Clip | None,
    work: Path,
    placement: tuple[set[int], set[int]] | None,
) -> dict[str, Any]:
    """``--backends``: turns of SQLite + disk and PostgreSQL + S3 (bench/backends.py)."""
    loop_name = _event_loop(args.server_arg)
    progress("services: PostgreSQL and SeaweedFS (S3) unless given")
    # The services are not pinned: the kernel puts them where a CPU is free. (Pinned with the
    # load generator, two runs on a busy machine had their senders stall for seconds.)
    services = await asyncio.to_thread(Services.start, args, work / "services")
    for started in services.started:
        progress(f"started {started}")
    turns: list[dict[str, Any]] = []
    try:
        for i, setup in enumerate(backends.run_order(args.backend_rounds)):
            folder = work / f"turn{i + 1}-{setup}"
            port = free_port()
            token = secrets.token_hex(16)
            turn = await backends.prepare(setup, i + 1, services, folder / "examcast", token)
            serve = serve_args(
                port,
                turn.data_dir,
                "--device-check-limit-s",
                str(max(120, args.seconds + 120)),
                "--log-level",
                "warning",
                *preview_asked(args),
                *args.server_arg,
            )
            server = ServerProcess(
                f"examcast serve ({setup})",
                serve,
                folder / "examcast.log",
                placement[0] if placement else None,
                env=turn.env,
            )
            url = f"http://127.0.0.1:{port}"
            hooks = TurnHooks(turn, url, token, services if setup != backends.SQLITE_DISK else None)
            try:
                run = await _measure(
                    server,
                    Target(f"turn {i + 1} {setup}", url, folder / "examcast.log"),
                    clip,
                    args.streams,
                    args.seconds,
                    hooks=hooks,
                    preview=preview,
                )
            finally:
                if not args.keep:
                    await turn.cleanup()
            figures_ = backends.turn_figures(hooks, run, args.streams, args.seconds)
            progress(
                f"turn {i + 1} {setup}: cpu_per_stream_pct {figures_['cpu_per_stream_pct']}, "
                f"{figures_['takes_stored_complete']}/{figures_['takes']} takes stored complete"
            )
            turns.append(figures_)
    finally:
        await asyncio.to_thread(services.stop)
    result: dict[str, Any] = {
        "mode": "backends",
        "streams": args.streams,
        "seconds": args.seconds,
        "order": [t["setup"] for t in turns],
    }
    result.update(backends.summary(turns))
    result.update(
        turns=turns,
        services_started=services.started,
        event_loop=loop_name,
        server_args=args.server_arg,
        clip=clip.describe(),
        preview=_described(preview),
        note=backends.NOTE,
    )
    result["pinning"] = (
        {
            "server_cpus": sorted(placement[0]),
            "loadgen_cpus": sorted(placement[1]),
            "services_cpus": "not pinned",
        }
        if placement
        else "one CPU: server, load generator and services share it"
    )
    return result


async def _relay_baseline(
    args: argparse.Namespace,
    viewers: int,
    clip: Clip,
    work: Path,
    placement: tuple[set[int], set[int]] | None,
    loop_name: str,
) -> dict[str, Any]:
    """The live part against ``bench.baseline --relay``: aiortc's MediaRelay, decoded frames
    encoded again for each viewer."""
    streams = min(args.streams, 2)
    port = free_port()
    server = ServerProcess(
        "relay baseline",
        [
            "-m",
            "bench.baseline",
            "--relay",
            "--port",
            str(port),
            "--dir",
            str(work / "relay-baseline"),
            "--event-loop",
            loop_name,
        ],
        work / "relay-baseline.log",
        placement[0] if placement else None,
    )
    cookies = [""] * proctors_needed(viewers, wall=True)

    async def live_plan() -> LivePlan:
        return LivePlan(viewers, args.viewer_seconds, True, "bench", cookies, False)

    run = await _measure(
        server,
        Target("relay baseline", f"http://127.0.0.1:{port}", None),
        clip,
        streams,
        args.seconds,
        live_plan,
    )
    out: dict[str, Any] = {"streams": streams}
    out.update(live_figures(run))
    out["candidates_only_cpu_per_stream_pct"] = figures(run, streams, args.seconds)[
        "cpu_per_stream_pct"
    ]
    del out["live_note"]
    out["note"] = (
        "a plain aiortc server relaying with aiortc.contrib.media.MediaRelay (buffered=False): "
        "each candidate's track decoded once by aiortc's receiver, each viewer's copy encoded "
        "again by its own RTCRtpSender (VP8, Opus); no recording. Its wall: every "
        "wall_picture_interval (2.5 s) the latest decoded picture of each camera, scaled to "
        f"320x240 and made a JPEG in a thread. Run with {streams} candidate(s) and {viewers} "
        "viewer(s): each viewer costs an encoder. Viewers read the re-encoded pictures' "
        "barcodes (decoding in threads of the load generator)."
    )
    return out


async def _measure(
    server: ServerProcess,
    target: Target,
    clip: Clip,
    streams: int,
    seconds: int,
    live: Callable[[], Awaitable[LivePlan]] | None = None,
    analysis: Callable[[], Awaitable[AnalysisPlan]] | None = None,
    hooks: TurnHooks | None = None,
    lag: LagSampler | None = None,
    preview: Clip | None = None,
) -> Run:
    """One run of the load against ``server``. The baselines' candidates offer no
    ``preview``: a plain aiortc server never asks for one, so a page would send nothing on
    it, and the baselines stay the load they were measured with."""
    progress(f"{target.name}: starting {' '.join(server.argv)}")
    server.start()
    try:
        await server.wait_ready(target.url + "/api/health")
        if hooks is not None:
            await hooks.before()
        plan = None if live is None else await live()
        analysis_plan = None if analysis is None else await analysis()
        proc = psutil.Process(server.pid)
        me = psutil.Process()
        memory = measure.MemorySampler(proc)
        rss_idle = memory.sample()
        memory.start()
        udp_before = measure.udp_counters()
        marks: dict[str, measure.CpuMark] = {}
        loadgen_marks: dict[str, measure.CpuMark] = {}
        machine: dict[str, float] = {}
        rss: dict[str, int] = {}
        drops: list[int | None] = [None]

        def on_phase(phase: str) -> None:
            marks[phase] = measure.cpu_mark(proc)
            loadgen_marks[phase] = measure.cpu_mark(me)
            machine[phase] = measure.machine_busy()
            rss[phase] = memory.sample()
            if phase == "stopped":  # the server's peer sockets are still open
                drops[0] = measure.socket_drops(server.pid)
            if hooks is not None:
                hooks.on_phase(phase)
            if lag is not None and phase == "recording":
                lag.start()

        started = time.monotonic()
        try:
            load = await run_load(
                target, clip, streams, seconds, on_phase, progress, plan, analysis_plan, preview
            )
        finally:
            if lag is not None:
                await lag.stop()
        if hooks is not None:  # every take stored complete (the store's uploads run after)
            await hooks.settle(load)
            on_phase("settled")
            await hooks.after()
        await memory.stop()
        udp = measure.udp_delta(udp_before, measure.udp_counters())
        server.check_alive()
        progress(f"{target.name}: done in {time.monotonic() - started:.1f}s")
        return Run(
            load,
            marks,
            loadgen_marks,
            machine,
            udp,
            drops[0],
            rss_idle,
            rss,
            memory.peak,
            memory.samples,
            lag.figures() if lag is not None else {},
        )
    except BaseException:
        progress(f"{target.name}: failed; server log:\n{server.log_tail()}")
        raise
    finally:
        await server.stop()
