"""``examcast bench``: N simulated candidates against a real server, and a baseline.

The server (``examcast serve``) runs in its own process on CPU 0, the load
generator in this one on CPU 1 (when there are two). The same load is then
run against a baseline server that records with aiortc's ``MediaRecorder``.
Progress goes to stderr; the figures are one JSON object, the last line of
stdout. docs/bench.md explains each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bench import measure
from bench.clip import Clip, make_clip
from bench.loadgen import LoadFailed, Target, loopback_only, run_load
from bench.process import ServerFailed, ServerProcess, free_port
from bench.report import Run, figures
from bench.spawn import serve_args

SERVER_CPU, LOADGEN_CPU = 0, 1


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
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra argument for `examcast serve` (repeatable), "
        "e.g. --server-arg=--event-loop --server-arg=asyncio",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the data directory (recordings, server logs)"
    )


def main(args: argparse.Namespace) -> int:
    if args.streams < 1 or args.seconds < 1:
        print("examcast bench: --streams and --seconds must be at least 1", file=sys.stderr)
        return 2
    baseline_streams = (
        min(args.streams, 2) if args.baseline_streams is None else args.baseline_streams
    )
    cpus = sorted(os.sched_getaffinity(0))
    placement = _placement(cpus)
    progress("encoding the clip (VP8 640x480 30 fps + Opus, 10 s, looped)")
    clip = make_clip()
    progress(f"clip: {clip.describe()}")
    if placement is not None:
        measure.pin(os.getpid(), placement[1])
    loopback_only()
    work = Path(tempfile.mkdtemp(prefix="examcast-bench-"))
    try:
        result = _runner()(_bench(args, baseline_streams, clip, work, placement))
    except (ServerFailed, LoadFailed, TimeoutError) as exc:
        progress(f"failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        if args.keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


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
    work: Path,
    placement: tuple[set[int], set[int]] | None,
) -> dict[str, Any]:
    loop_name = _event_loop(args.server_arg)
    port = free_port()
    data_dir = work / "examcast"
    serve = serve_args(
        port,
        data_dir,
        "--device-check-limit-s",
        str(max(120, args.seconds + 120)),
        "--log-level",
        "warning",
        *args.server_arg,
    )
    server = ServerProcess(
        "examcast serve", serve, work / "examcast.log", placement[0] if placement else None
    )
    main_run = await _measure(
        server,
        Target("examcast", f"http://127.0.0.1:{port}", work / "examcast.log"),
        clip,
        args.streams,
        args.seconds,
    )
    result = figures(main_run, args.streams, args.seconds)
    result.update(event_loop=loop_name, server_args=serve[2:], clip=clip.describe())
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
    return result


async def _measure(
    server: ServerProcess, target: Target, clip: Clip, streams: int, seconds: int
) -> Run:
    progress(f"{target.name}: starting {' '.join(server.argv)}")
    server.start()
    try:
        await server.wait_ready(target.url + "/api/health")
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

        started = time.monotonic()
        load = await run_load(target, clip, streams, seconds, on_phase, progress)
        await memory.stop()
        udp = measure.udp_delta(udp_before, measure.udp_counters())
        server.check_alive()
        progress(f"{target.name}: done in {time.monotonic() - started:.1f}s")
        return Run(load, marks, loadgen_marks, machine, udp, drops[0], rss_idle, rss, memory.peak)
    except BaseException:
        progress(f"{target.name}: failed; server log:\n{server.log_tail()}")
        raise
    finally:
        await server.stop()
