"""scripts/cluster for a test (tests/integration/test_failover.py): three nodes behind
HAProxy with a Redis and a PostgreSQL of the test's own (to stop and start) and the test
SeaweedFS; and the people of an exam on it, who talk to HAProxy only, as the pages do:
candidates whose camera page's socket carries ``c=<id>``, a phone, a proctor's live view,
the records and the store read back, a fill sent over tus.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
import socketio
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bench.journey import Person as JourneyPerson
from bench.journey import sign_up, to_exam_list
from bench.journey import verify as journey_verify
from bench.spawn import free_port, sms_codes
from exams.catalog.takes import Take
from storage.objects import open_store
from storage.objects_s3 import S3Objects
from storage.postgres import PostgresDatabase
from storage.takes import SqliteTakes
from tests.support import postgres, seaweed
from tests.support.api import ApiClient, Reply, journey_call
from tests.support.clock import wait_until
from tests.support.exams import exam_body, offline_question, online_question
from tests.support.fill_media import chunks, fill_body, recording
from tests.support.media import SyntheticAudio, SyntheticVideo, read_barcode
from tests.support.redis import OwnRedis
from tests.support.server import Client
from tests.support.workers import worker_number
from tests.support.world import PASSWORD, resident_id

ROOT = Path(__file__).parents[2]
ARTIFACTS = Path(os.environ.get("EXAMCAST_ARTIFACTS", ROOT / "artifacts"))
BROKEN_S = 30.0  # a wall-clock wait past this means broken, not slow
UP_WITHIN_S = 180.0
WEBM = "video/webm;codecs=vp8,opus"
TUS = {"Tus-Resumable": "1.0.0"}
_serials = itertools.count(1)


# -- the cluster ---------------------------------------------------------------------------


@dataclass
class Cluster:
    """scripts/cluster running (one for the module): HAProxy's URL, the nodes, the
    services this test owns (Redis and PostgreSQL, to stop and start them)."""

    process: subprocess.Popen[bytes]
    out: Path
    info: dict[str, Any]
    redis: OwnRedis
    pg: postgres.Cluster
    storage_url: str

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def logs(self) -> Path:
        return Path(self.info["logs"])

    def node(self, name: str) -> dict[str, Any]:
        [found] = [n for n in self.info["nodes"] if n["node_id"] == name]
        return dict(found)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def sms_code(self, phone: str) -> str:
        deadline = time.monotonic() + 10
        while True:
            codes = [
                c for p in self.logs.glob("node*.log") for c in sms_codes(p.read_text(), phone)
            ]
            if codes:
                return codes[-1]
            assert time.monotonic() < deadline, f"no SMS to {phone} in the nodes' logs"
            time.sleep(0.05)

    def events(self) -> list[dict[str, Any]]:
        """What scripts/cluster said after its first line (nodes exited, restarted)."""
        lines = self.out.read_text().splitlines()[1:]
        return [json.loads(x) for x in lines if x.startswith("{")]

    def kill(self, name: str) -> float:
        """kill -9 of a node's process (its pid from scripts/cluster's JSON); when (epoch)."""
        pid = int(self.node(name)["pid"])
        os.kill(pid, signal.SIGKILL)
        return time.time()

    def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()

    def admin(self, *args: str) -> str:
        """An operator command (``unit-add``, ``grant``) on the cluster's database."""
        done = subprocess.run(
            [sys.executable, "-m", "web.cli", *args, "--database-url", self.pg.url],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert done.returncode == 0, f"examcast {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


@contextlib.contextmanager
def running_cluster(root: Path, storage_url: str, *serve: str) -> Iterator[Cluster]:
    """scripts/cluster with three nodes (``serve``: more settings for every node), reading
    commands from stdin; stopped as by Ctrl-C."""
    redis = OwnRedis(root / "redis")
    redis.start()
    with postgres.own_cluster() as pg, contextlib.ExitStack() as stack:
        stack.callback(redis.stop)
        store = open_store(storage_url, *seaweed.keys())
        assert isinstance(store, S3Objects)
        asyncio.run(_made(store))
        port = free_port()
        udp = 30000 + worker_number() * 1500 + port % 10 * 100
        out = root / "cluster.out"
        args = [
            sys.executable,
            str(ROOT / "scripts" / "cluster.py"),
            "--nodes=3",
            f"--dir={root / 'cluster'}",
            f"--port={port}",
            f"--node-ports={free_port()},{free_port()},{free_port()}",
            f"--stats-port={free_port()}",
            f"--udp-base={udp}",
            "--udp-per-node=30",
            f"--redis-url={redis.url}",
            f"--database-url={pg.url}",
            f"--storage-url={storage_url}",
            "--json",
            "--commands",
            "--",
            "--password-hash-memory-kib=1024",
            "--sms-per-address-per-hour=100000",
            "--staff-two-factor=optional",
            "--verifier=id_suffix",
            "--viewer-shed-lag-ms=0",
            *serve,
        ]
        access, secret = seaweed.keys()
        env = {
            **os.environ,
            "EXAMCAST_STORAGE_ACCESS_KEY": access,
            "EXAMCAST_STORAGE_SECRET_KEY": secret,
        }
        with out.open("wb") as sink:
            process = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
            )
        try:
            deadline = time.monotonic() + UP_WITHIN_S
            while not out.read_text().lstrip().startswith("{"):
                assert process.poll() is None, f"scripts/cluster exited: {out.read_text()}"
                assert time.monotonic() < deadline, (
                    f"no cluster in {UP_WITHIN_S} s: {out.read_text()}"
                )
                time.sleep(0.1)
            info = json.loads(out.read_text().splitlines()[0])
            yield Cluster(process, out, info, redis, pg, storage_url)
        finally:
            process.send_signal(signal.SIGINT)  # as Ctrl-C: the nodes, then HAProxy
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            # the nodes', HAProxy's and scripts/cluster's words, for whoever reads a failure
            kept = ARTIFACTS / "failover-cluster"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(root / "cluster" / "logs", kept, dirs_exist_ok=True)
            shutil.copy(out, kept / "cluster.out")


async def _made(store: S3Objects) -> None:
    await store.create_bucket()
    await store.close()


# -- people --------------------------------------------------------------------------------


@dataclass
class Front:
    """HAProxy as tests/support/api.py's server (the URL is all ApiClient uses)."""

    url: str


@dataclass
class Person:
    id: str
    phone: str
    id_number: str
    api: ApiClient
    node: str = ""  # the candidate's media node (where HAProxy sends c=<id>)
    device: Client | None = None
    session_id: str = ""
    take_id: str = ""

    async def call(self, method: str, path: str, body: Any = None) -> Reply:
        return await self.api.call(method, path, body)

    async def media_call(self, method: str, path: str, body: Any = None) -> Reply:
        """A step that starts or stops the candidate's recording, sent with ``c=<id>`` as
        the candidate's pages send every call (``lib/api.js`` ``routeCalls``), so it
        reaches the node that holds the candidate's media."""
        return await self.api.call(method, f"{path}?c={self.id}", body)

    def cookie(self) -> str:
        return f"examcast_session={self.api.cookie()}"


def api(front: Front) -> ApiClient:
    return ApiClient(front)  # type: ignore[arg-type]  # .url is all it reads


async def signed_up(front: Front, cluster: Cluster) -> Person:
    serial = next(_serials) + 100 * worker_number()
    phone = f"135{os.getpid() % 10000:04d}{serial:04d}"
    client = api(front)

    async def code(to: str) -> str:
        return await asyncio.to_thread(cluster.sms_code, to)

    person = JourneyPerson(phone, f"考生{serial}", resident_id(serial), PASSWORD)
    created = await sign_up(journey_call(client), person, code)
    return Person(created["account"]["id"], phone, person.id_number, client)


async def staff(front: Front, cluster: Cluster, role: str, unit: str | None = None) -> Person:
    who = await signed_up(front, cluster)
    await asyncio.to_thread(
        cluster.admin, "grant", who.phone, role, *(["--unit", unit] if unit else [])
    )
    assert (
        await who.call("POST", "/api/session", {"phone": who.phone, "password": PASSWORD})
    ).status == 200
    return who


async def node_of(http: aiohttp.ClientSession, front: Front, candidate: str) -> str:
    """The node HAProxy sends ``c=<candidate>`` to now."""
    async with http.get(f"{front.url}/readyz?c={candidate}") as r:
        return str(r.headers["X-Examcast-Node"])


async def socket(front: Front, who: Person, route: str | None) -> Client:
    """A Socket.IO connection through HAProxy on ``who``'s log-in (``c=<route>``), every
    event kept; retried while HAProxy still sends it to a node that is gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BROKEN_S
    url = front.url + (f"?c={route}" if route else "")
    while True:
        sio = socketio.AsyncClient(reconnection=False)
        client = Client(front.url, who.api.http, sio)

        @sio.on("*")
        async def any_event(event: str, data: Any, client: Client = client) -> None:
            client.events.append((event, data))

        try:
            await sio.connect(
                url, headers={"Cookie": who.cookie()}, transports=["websocket"], wait_timeout=5
            )
            return client
        except socketio.exceptions.ConnectionError:
            assert loop.time() < deadline, f"no Socket.IO connection through {url}"
            await asyncio.sleep(0.5)  # as the page's back-off


async def publish(who: Person, session_id: str | None = None) -> tuple[str, RTCPeerConnection]:
    assert who.device is not None
    sid, pc = await who.device.publish([SyntheticVideo(), SyntheticAudio()], session_id)
    who.session_id = sid
    return sid, pc


async def device_check(who: Person) -> str:
    """The device check as its page records it: a second of real media, stored."""
    assert who.device is not None
    await publish(who)
    started = await who.device.call(
        "start_take", {"session_id": who.session_id, "purpose": "device_check"}
    )
    assert started.get("state") == "recording", started
    await recorded(who, started["take_id"], 1.0)
    stored = await who.device.call("stop_take", {"take_id": started["take_id"]})
    assert stored.get("state") == "stored", stored
    return str(stored["take_id"])


async def recorded_s(who: Person, take_id: str) -> float:
    """What the node holds of the take (the page's heartbeat, ``time``): seconds."""
    assert who.device is not None
    beat = await who.device.call("time", {})
    found = [s.get("recorded_s") for s in beat.get("sessions", []) if s.get("take_id") == take_id]
    return float(found[0]) if found and found[0] is not None else 0.0


async def recorded(who: Person, take_id: str, seconds: float, within: float = BROKEN_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (got := await recorded_s(who, take_id)) < seconds:
        if loop.time() >= deadline:
            raise AssertionError(
                f"{take_id}: {got} s recorded, not {seconds}, in {within} s "
                f"(its media: {await media_stage(who, take_id)})"
            )
        await asyncio.sleep(0.2)


async def media_stage(who: Person, take_id: str) -> str:
    """How far the media of the session recording ``take_id`` gets (the heartbeat's
    ``media_stage``: connecting, no_packets, no_frames, before_take, waiting, ...)."""
    assert who.device is not None
    beat = await who.device.call("time", {})
    found = [s.get("media_stage") for s in beat.get("sessions", []) if s.get("take_id") == take_id]
    return str(found[0]) if found else "no session of this page records it"


async def candidate(
    unit: str, front: Front, cluster: Cluster, exam_id: str, http: aiohttp.ClientSession
) -> Person:
    """Signed up, on the admitted list, through the journey (its device check recorded on its
    media node), verified for the exam, its camera page's socket open (``c=<id>``)."""
    who = await signed_up(front, cluster)
    who.node = await node_of(http, front, who.id)
    who.device = await socket(front, who, who.id)

    async def take() -> str:
        return await device_check(who)

    await to_exam_list(journey_call(who.api), who.id_number, unit, take)
    await journey_verify(journey_call(who.api), who.id_number, scope=f"exam:{exam_id}")
    return who


async def admitted_list(admin: Person, unit: str, people: list[tuple[str, str]]) -> None:
    rows = "".join(f"{name},resident_id,{number}\n" for name, number in people)
    reply = await admin.api.call(
        "POST",
        f"/api/admin/units/{unit}/admitted-list",
        data=("name,id_type,id_number\n" + rows).encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert reply.status == 201, reply


# -- a proctor's live view -----------------------------------------------------------------


@dataclass
class Viewer:
    pc: RTCPeerConnection
    frames: list[int] = field(default_factory=list)  # barcodes of the primary's pictures
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pc.close()


async def watch(client: Client, exam_id: str, candidate_id: str) -> Viewer:
    """A viewer session (docs/signaling.md) and a receive-only peer: the primary's frames."""
    opened = await client.call(
        "open_session", {"role": "viewer", "exam_id": exam_id, "candidate_id": candidate_id}
    )
    assert opened.get("session_id"), opened
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    for kind in ("video", "audio", "video", "audio"):
        pc.addTransceiver(kind, direction="recvonly")
    viewer = Viewer(pc)
    cameras: dict[str, str] = {}

    async def consume(track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                luma = frame.to_ndarray()[: frame.height]  # type: ignore[union-attr]
                viewer.frames.append(read_barcode(luma))

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        mid = next(t.mid for t in pc.getTransceivers() if t.receiver.track is track)
        if track.kind == "video" and cameras.get(str(mid)) == "primary":
            viewer.tasks.append(asyncio.ensure_future(consume(track)))

    await pc.setLocalDescription(await pc.createOffer())
    answer = await client.call(
        "offer",
        {"session_id": opened["session_id"], "type": "offer", "sdp": pc.localDescription.sdp},
    )
    assert "sdp" in answer, answer
    cameras.update({t["mid"]: t["camera"] for t in answer["tracks"]})
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await wait_until(lambda: pc.connectionState == "connected", 15, "viewer peer connected")
    return viewer


# -- the records and the store, read by the test -----------------------------------------


@contextlib.asynccontextmanager
async def records(cluster: Cluster) -> AsyncIterator[PostgresDatabase]:
    db = PostgresDatabase(cluster.pg.url)
    await db.open()
    try:
        yield db
    finally:
        await db.close()


async def take_record(cluster: Cluster, take_id: str) -> Take:
    async with records(cluster) as db:
        take = await SqliteTakes(db).get(take_id)
    assert take is not None, take_id
    return take


@dataclass
class Stored:
    """A whole file of a take in S3: its bytes, and the SHA-256 it was verified against."""

    data: bytes
    verified_sha256: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


async def objects_of(cluster: Cluster, take_id: str) -> dict[str, Stored]:
    """The whole files of the take's primary camera in S3 (pieces left out), by name."""
    store = open_store(cluster.storage_url, *seaweed.keys())
    try:
        out = {}
        for info in await store.list(f"recordings/{take_id}/"):
            name = info.key.split("/", 2)[2]
            if ".pieces/" in name or not name.startswith("segment"):
                continue
            head = await store.head(info.key)
            out[name] = Stored(await store.read(info.key), None if head is None else head.sha256)
        return out
    finally:
        await store.close()


def frames_in(data: bytes, path: Path) -> int:
    """Video frames in the file, every packet decoded (an error raises)."""
    path.write_bytes(data)
    with av.open(str(path)) as f:
        return sum(1 for _ in f.decode(video=0))


def spans(segments: list[dict[str, Any]]) -> list[tuple[float, float]]:
    return sorted((s["start_s"], s["start_s"] + s["duration_s"]) for s in segments)


def assert_no_overlap(segments: list[dict[str, Any]]) -> None:
    """Nothing recorded twice: on the take's clock each segment starts after the last ends
    (a frame's worth of rounding allowed)."""
    for (_, end), (start, _) in itertools.pairwise(spans(segments)):
        assert start >= end - 0.04, spans(segments)


async def take_summary(who: Person, take_id: str) -> dict[str, Any]:
    reply = await who.call("GET", f"/api/takes/{take_id}")
    assert reply.status == 200, reply
    return dict(reply.body)


# -- a fill through tus (as tests/integration/test_fills.py) ------------------------------


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def send_fill(who: Person, body: bytes, values: dict[str, str]) -> tuple[int, Any]:
    """tus through HAProxy, as the pages send it: the POST with ``c=<candidate>``, then the
    ``Location`` the server returns (which carries it), so every request of the upload
    reaches the node whose disk holds its bytes."""
    headers = {**TUS, "Upload-Length": str(len(body)), "Upload-Metadata": meta(**values)}
    reply = await who.api.call("POST", f"/api/uploads/?c={who.id}", data=b"", headers=headers)
    if reply.status != 201:
        return reply.status, reply.body
    location = str(reply.headers["Location"])  # the server keeps the query: c= is in it
    assert location.endswith(f"?c={who.id}"), location
    offset = 0
    half = len(body) // 2
    for piece in (body[:half], body[half:]):
        digest = base64.b64encode(hashlib.sha256(piece).digest()).decode()
        patched = await who.api.call(
            "PATCH",
            location,
            data=piece,
            headers={
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Upload-Checksum": f"sha256 {digest}",
            },
        )
        if patched.status != 204:
            nodes = (reply.headers.get("X-Examcast-Node"), patched.headers.get("X-Examcast-Node"))
            return patched.status, {**patched.body, "created_on, patched_on": nodes}
        offset = int(patched.headers["Upload-Offset"])
    return 204, {}


async def fill_gap(
    who: Person, take: dict[str, Any], gap: dict[str, Any], tmp: Path
) -> tuple[int, Any]:
    """The page's local copy of the take (a browser-like WebM) sliced over ``gap``, sent."""
    seconds = take["stopped_at"] - take["started_at"] + 0.5
    data = await asyncio.to_thread(recording, tmp / f"copy-{take['take_id']}.webm", seconds)
    started_at_ms = take["started_at"] * 1000
    parts = chunks(data, seconds, started_at_ms, max(4, int(seconds)))
    from_ms = started_at_ms + gap["start_s"] * 1000
    to_ms = started_at_ms + gap["end_s"] * 1000
    # The copy's chunk times are spread evenly over its bytes (a browser's are exact): a
    # second more of it, so its last chunk surely reaches past the gap.
    body, head = fill_body(parts, from_ms, to_ms + 1000)
    values = {
        "kind": "fill",
        "take_id": take["take_id"],
        "camera": "primary",
        "started_at_ms": f"{started_at_ms:.0f}",
        "from_ms": f"{from_ms:.0f}",
        "to_ms": f"{to_ms:.0f}",
        "head_size": str(head),
        "mime": WEBM,
    }
    return await send_fill(who, body, values)


# -- the scenario ----------------------------------------------------------------------------


@dataclass
class Exam:
    id: str
    unit: str
    admin: Person
    proctor: Person
    people: list[Person]
    http: aiohttp.ClientSession

    def q(self, qid: str) -> str:
        return f"/api/exams/{self.id}/questions/{qid}"


async def set_up_exam(
    cluster: Cluster,
    front: Front,
    http: aiohttp.ClientSession,
    unit: str,
    reading_s: int,
    submission_s: int,
) -> Exam:
    """A unit, its admin, a proctor, an exam: q1 recorded (a second camera asked for), q9
    an offline answer of ``submission_s``."""
    await asyncio.to_thread(cluster.admin, "unit-add", unit, f"Unit {unit}")
    admin = await staff(front, cluster, "unit_admin", unit)
    proctor = await staff(front, cluster, "proctor")
    body = exam_body(
        online_question(
            "q1",
            1,
            second_camera_required=True,
            reading_limit_s=reading_s,
            recording_limit_s=600,
            formal_count=1,
        ),
        offline_question("q9", 9, submission_limit_s=submission_s),
        now=time.time(),
    )
    created = await admin.call("POST", "/api/admin/exams", body)
    assert created.status == 201, created
    exam_id = created.body["id"]
    added = await admin.call(
        "POST", f"/api/admin/exams/{exam_id}/proctors", {"phone": proctor.phone}
    )
    assert added.status == 200, added
    return Exam(exam_id, unit, admin, proctor, [], http)


async def candidates(
    cluster: Cluster, front: Front, exam: Exam, at_least: int, every_node: bool = True
) -> None:
    """Candidates until there are ``at_least`` and (``every_node``) they are on every node
    (at most 6: consistent hashing over three servers is lopsided for a handful of ids; up
    to 12 while they are all on one)."""
    await admitted_list(
        exam.admin,
        exam.unit,
        [
            (f"考生{n}", resident_id(n))
            for n in range(1 + 100 * worker_number(), 200 + 100 * worker_number())
        ],
    )
    nodes = {n["node_id"] for n in cluster.info["nodes"]}
    while (
        len(exam.people) < at_least
        or (every_node and {p.node for p in exam.people} != nodes and len(exam.people) < 6)
        or (every_node and len({p.node for p in exam.people}) < 2 and len(exam.people) < 12)
    ):
        exam.people.append(await candidate(exam.unit, front, cluster, exam.id, exam.http))


async def enter(exam: Exam, who: Person) -> None:
    entered = await who.media_call("POST", exam.q("q1") + "/formal")
    assert entered.status == 200, entered


async def started(who: Person) -> None:
    """The server started the formal take when the reading time ran out; it records."""
    assert who.device is not None
    found = await who.device.wait_event("take_started", timeout=2 * BROKEN_S, purpose="formal")
    who.take_id = found["take_id"]
    await recorded(who, who.take_id, 1.0)


async def pair_phone(exam: Exam, front: Front, of: Person) -> str:
    """The candidate shows the QR code; the phone logs in, scans it with its HTTP request
    on a node other than the candidate's media node, connects its camera (c= from the
    scan: the candidate's media node) and taps Ready. The node of its scan."""
    phone = Person(of.id, of.phone, of.id_number, api(front))
    exam.people.append(phone)
    logged_in = await phone.call("POST", "/api/session", {"phone": of.phone, "password": PASSWORD})
    assert logged_in.status == 200, logged_in
    qr = await of.call("POST", exam.q("q1") + "/pairing")
    assert qr.status == 201, qr
    for _ in range(6):  # round robin: the request after one on the media node goes elsewhere
        if (await phone.call("GET", "/api/me")).headers["X-Examcast-Node"] == of.node:
            break
    redeemed = await phone.call("POST", "/api/pairing/redeem", {"token": qr.body["token"]})
    assert redeemed.status == 200, redeemed
    scanned_on = str(redeemed.headers["X-Examcast-Node"])
    assert scanned_on != of.node, (scanned_on, of.node)
    assert redeemed.body["candidate_id"] == of.id
    phone.device = await socket(front, phone, redeemed.body["candidate_id"])
    pairing = {"role": "secondary", "pairing_id": redeemed.body["pairing_id"]}
    session_id, _ = await phone.device.publish(
        [SyntheticVideo(), SyntheticAudio()], open_args=pairing
    )
    assert of.device is not None
    await of.device.wait_event(
        "secondary_state", timeout=BROKEN_S, state="connected", pairing_id=pairing["pairing_id"]
    )
    ready = await phone.device.call("secondary_ready", {"session_id": session_id})
    assert ready.get("state") == "ready", ready
    return scanned_on


async def close_people(exam: Exam) -> None:
    for p in [*exam.people, exam.admin, exam.proctor]:
        if p.device is not None:
            with contextlib.suppress(Exception):
                await p.device.close()
        with contextlib.suppress(Exception):
            await p.api.close()
