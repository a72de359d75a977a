"""The node's Prometheus metrics: one registry per app (never the library's global one).

:class:`Metrics` implements the telemetry port (:mod:`exams.shared.telemetry`) that the
domain, ``storage`` and ``media`` report to, and holds the gauges read when
``/metrics`` is scraped (:func:`web.ops.metrics`): media sessions, streams recording,
takes in flight, draining, UDP sockets and their drops, the proctors' walls' pictures.
Every label takes a bounded set of values (a kind, a reason, a backend, an adapter): an
unknown one is counted as ``other``, so no candidate, take or session ever becomes a
series.

UDP drops are read per socket of this process from ``/proc/self/net/udp`` and ``udp6``
(the ``drops`` column of each socket whose inode is one of our descriptors): they are
the media packets the kernel threw away because the event loop did not read them in
time, this node's own, not its neighbours' on the same host (``/proc/net/snmp``'s
``RcvbufErrors`` counts every process of the network namespace). A socket's count
goes when it closes, so the counter adds what each socket dropped since the last
scrape; drops in a socket's last moments before it closed are not seen.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from exams.catalog.takes import Take
from exams.shared.telemetry import BACKENDS, Count, Sample
from media.pictures import PictureStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "other"
MAX_OPS_PER_BACKEND = 64  # an adapter or operation name per backend; past it: "other"
_OP = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")

# The values each count's label may take (anything else is counted as "other").
LABELS: dict[Count, tuple[str, frozenset[str]]] = {
    Count.FRAMES_WRITTEN: ("kind", frozenset({"video", "audio"})),
    Count.FRAMES_LOST: (
        "reason",
        frozenset(
            {"waiting_keyframe", "out_of_order", "backlog", "malformed", "duplicate", "write_error"}
        ),
    ),
    Count.TAKES_ENDED: ("outcome", frozenset({"stored", "failed"})),
    Count.UPLOAD_BYTES: ("kind", frozenset({"tus", "answer_file"})),
    Count.DEADLINES_FIRED: (
        "action",
        frozenset({"start_recording", "stop_recording", "auto_submit", "close_attempt"}),
    ),
    Count.MEDIA_SESSIONS_REFUSED: ("reason", frozenset({"draining", "full", "overloaded"})),
    Count.OBJECT_STORE_BYTES: ("op", frozenset({"put", "put_file"})),
    Count.TAKES_ADOPTED: ("how", frozenset({"finished", "continued"})),
}
HELP: dict[Count, str] = {
    Count.FRAMES_WRITTEN: "Encoded frames written to recordings",
    Count.FRAMES_LOST: "Frames that reached the server and are not in a recording",
    Count.TAKES_ENDED: "Takes stored (media kept) or failed (no media)",
    Count.UPLOAD_BYTES: "Bytes received in uploads: resumable (tus) and direct (answer_file)",
    Count.DEADLINES_FIRED: "Exam deadlines acted on by this node",
    Count.MEDIA_SESSIONS_REFUSED: (
        "New cameras refused: the node was draining, had max_cameras, or its event loop was "
        "overloaded"
    ),
    Count.OBJECT_STORE_BYTES: (
        "Bytes sent to the object store: put (pieces of recording segments, small objects), "
        "put_file (whole files)"
    ),
    Count.TAKES_ADOPTED: "Takes of a gone node finished or continued by this node",
}
# fine around the 1 s goal: the bench reads p50/p99 per window from these (bench/lag.py)
LAG_BUCKETS: tuple[float, ...] = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.175, 0.25, 0.375)
LAG_BUCKETS += (0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 20.0, 40.0)
CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The registry and every series of this node; implements ``Telemetry``."""

    def __init__(self, node: str, proc: Path = Path("/proc")) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._proc = proc
        Gauge("examcast_node_info", "This node (value 1)", ["node"], registry=r).labels(node).set(1)
        self._counters = {
            what: Counter(f"examcast_{what.value}", HELP[what], [label], registry=r)
            for what, (label, _) in LABELS.items()
        }
        self._lag = Histogram(
            "examcast_recorder_lag_seconds",
            "How long encoded frames waited for the disk (the oldest of each write pass)",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self._calls = Histogram(
            "examcast_backend_call_seconds",
            "Calls to the database, Redis and object storage, by backend and operation",
            ["backend", "op"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self._errors = Counter(
            "examcast_backend_errors",
            "Calls to the database, Redis and object storage that failed",
            ["backend", "op"],
            registry=r,
        )
        self._ops: dict[str, set[str]] = {}
        self._sessions = Gauge(
            "examcast_media_sessions", "Media sessions open, by device role", ["role"], registry=r
        )
        self._recording = Gauge(
            "examcast_streams_recording", "Cameras being recorded (a take's each)", registry=r
        )
        self._previews = Gauge(
            "examcast_previews_sending",
            "Cameras sending their small preview for the wall now: those a wall or a detector "
            "pictures (the others send none)",
            registry=r,
        )
        self._in_flight = Gauge(
            "examcast_takes_in_flight", "Takes recording or finalising", registry=r
        )
        self._draining = Gauge(
            "examcast_draining", "1 while the node drains (it takes no new sessions)", registry=r
        )
        self._udp_sockets = Gauge(
            "examcast_udp_sockets", "UDP sockets this process holds open", registry=r
        )
        self._udp_queued = Gauge(
            "examcast_udp_receive_queue_bytes",
            "Bytes waiting in this process's UDP sockets to be read",
            registry=r,
        )
        self._udp_drops = Counter(
            "examcast_udp_drops",
            "UDP packets the kernel dropped on this process's sockets (receive buffer full)",
            registry=r,
        )
        self._udp_seen: dict[str, int] = {}  # socket inode -> its drops at the last scrape
        self._wall_cameras = Gauge(
            "examcast_wall_cameras",
            "Cameras on this node that a proctors' wall watches (each gets a fresh picture)",
            registry=r,
        )
        self._wall_previewed = Gauge(
            "examcast_wall_cameras_previewed",
            "Of the watched cameras, those pictured from their small preview track (the others "
            "from their own keyframes, several times the decoding: pages without a preview)",
            registry=r,
        )
        self._wall_age = Gauge(
            "examcast_wall_picture_age_max_seconds",
            "How old the stalest watched camera's picture is (0 when none is watched)",
            registry=r,
        )
        self._wall_pictures = Counter(
            "examcast_wall_pictures",
            "Wall pictures: made, dropped (the picture threads were full), failed (no decode)",
            ["outcome"],
            registry=r,
        )
        self._wall_cpu = Counter(
            "examcast_wall_picture_cpu_seconds",
            "CPU time of the wall's pictures: decoding, scaling, JPEG, and the loop's part",
            registry=r,
        )
        self._wall_seen: PictureStats | None = None  # the pictures' counts at the last scrape
        ProcessCollector(registry=r)  # CPU seconds, resident memory, open descriptors

    # -- exams.shared.telemetry.Telemetry --------------------------------------------------

    def count(self, what: Count, label: str = "", amount: float = 1.0) -> None:
        _, allowed = LABELS[what]
        self._counters[what].labels(label if label in allowed else OTHER).inc(amount)

    def sample(self, what: Sample, seconds: float) -> None:
        if what is Sample.RECORDER_LAG:
            self._lag.observe(seconds)

    def observe_call(self, backend: str, op: str, seconds: float, ok: bool) -> None:
        backend = backend if backend in BACKENDS else OTHER
        ops = self._ops.setdefault(backend, set())
        if op not in ops:
            if len(ops) >= MAX_OPS_PER_BACKEND or not _OP.fullmatch(op):
                op = OTHER
            else:
                ops.add(op)
        self._calls.labels(backend, op).observe(seconds)
        if not ok:
            self._errors.labels(backend, op).inc()

    # -- take events (a TakeService listener) ---------------------------------------------

    async def take_event(self, event: str, take: Take) -> None:
        if event == "take_stored":
            self.count(Count.TAKES_ENDED, "stored")
        elif event == "take_failed":
            self.count(Count.TAKES_ENDED, "failed")

    # -- at scrape time ---------------------------------------------------------------------

    def refresh(
        self,
        media: Mapping[str, int],
        in_flight: int,
        draining: bool,
        pictures: PictureStats | None = None,
        picture_ages: Sequence[float] = (),
    ) -> None:
        """The gauges of the event loop's state (call it on the loop, then :meth:`render`);
        ``pictures``: the wall's (``WallPictures.stats()``), ``picture_ages``: its
        ``ages()``."""
        for role, n in media.items():
            if role == "recording":
                self._recording.set(n)
            elif role == "previews":
                self._previews.set(n)
            else:
                self._sessions.labels(role).set(n)
        self._in_flight.set(in_flight)
        self._draining.set(1 if draining else 0)
        if pictures is not None:
            self._refresh_wall(pictures, picture_ages)

    def _refresh_wall(self, now: PictureStats, ages: Sequence[float]) -> None:
        self._wall_cameras.set(now.cameras)
        self._wall_previewed.set(now.previewed)
        self._wall_age.set(max(ages, default=0.0))
        seen = self._wall_seen
        self._wall_seen = now
        before = (0, 0, 0, 0.0) if seen is None else _wall_totals(seen)
        after = _wall_totals(now)
        outcomes = ("made", "dropped", "failed")
        for outcome, old, new in zip(outcomes, before[:3], after[:3], strict=True):
            if new > old:
                self._wall_pictures.labels(outcome).inc(new - old)
        if after[3] > before[3]:
            self._wall_cpu.inc(after[3] - before[3])

    def render(self) -> bytes:
        """The text exposition; reads ``/proc``, so run it off the event loop."""
        self._read_udp()
        return generate_latest(self.registry)

    def _read_udp(self) -> None:
        ours = _socket_inodes(self._proc / "self" / "fd")
        seen: dict[str, int] = {}
        queued = 0
        for name in ("udp", "udp6"):
            for inode, rx_queue, drops in _udp_table(self._proc / "self" / "net" / name):
                if inode in ours:
                    seen[inode] = drops
                    queued += rx_queue
        added = sum(max(0, d - self._udp_seen.get(inode, 0)) for inode, d in seen.items())
        if added:
            self._udp_drops.inc(added)
        self._udp_seen = seen
        self._udp_sockets.set(len(seen))
        self._udp_queued.set(queued)


def _wall_totals(stats: PictureStats) -> tuple[int, int, int, float]:
    """(made, dropped, failed, CPU seconds) so far."""
    cpu = stats.worker_cpu_s + stats.loop_cpu_s
    return stats.pictures, stats.dropped, stats.failed, cpu


def _socket_inodes(fd_dir: Path) -> set[str]:
    """The inodes of the sockets among this process's descriptors (``socket:[123]``)."""
    found = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir(fd_dir):
            with contextlib.suppress(OSError):
                target = os.readlink(entry.path)
                if target.startswith("socket:["):
                    found.add(target[8:-1])
    return found


def _udp_table(path: Path) -> list[tuple[str, int, int]]:
    """(inode, bytes queued to read, drops) of each socket in ``/proc/net/udp``'s format."""
    rows: list[tuple[str, int, int]] = []
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return rows
    for line in lines:
        parts = line.split()
        if len(parts) < 13:
            continue
        _, rx = parts[4].split(":")
        rows.append((parts[9], int(rx, 16), int(parts[12])))
    return rows
