"""The built-in face check (``verifier = "face"``): liveness + a match with the reference photo.

Works fully offline: the face engine (``media.face_engine``: dlib's detector, 68 landmarks and
ResNet embedding, models shipped in a package) runs in a worker thread. An attempt's challenge
is a short random list of steps (turn the head left, right, blink, …) derived from the attempt
id with the server's key, so a resumed attempt shows the same steps and nobody can tell them
in advance. The page sends a few seconds of camera frames (``{"frames": [{"t_ms", "jpeg"}]}``);
the engine measures each frame (faces, head pose, eyes) and ``exams.identity.liveness.judge``
decides whether the steps were done, in order, by a moving face that stayed the same person
(a held-up photo or a replay of another challenge fails). Then the face is compared with the
unit's reference photo: the median distance of the frames' embeddings is the score, passed
when at most ``threshold``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import multiprocessing
import random
import statistics
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

from exams.identity import liveness
from exams.identity.accounts import Account
from exams.identity.reference_photos import ReferencePhotos
from exams.identity.verification import Verdict, VerifierUnavailable
from exams.shared.errors import InvalidInput
from media import face_engine

SECONDS_PER_STEP = 2.5
FPS = 4  # frames asked per second: a blink ("close your eyes for a moment") falls on one
MIN_FRAMES = 6
MAX_FRAMES = 40
# The page sends the middle square of its camera picture, this many pixels wide: above the
# engine's ALWAYS_UPSAMPLE (400), so that a frame is searched once, not at twice its size
# (a 3-step challenge, 32 frames: ~0.8 s of CPU in all, measured; at 360 px, ~1.7 s).
FRAME_SIDE = 420
MAX_FRAME_BYTES = 64 * 1024  # one JPEG, decoded (the whole body is bounded by the app, 1 MiB)
MAX_SPAN_MS = 30_000
EVIDENCE_FRAMES = 4  # kept: the first, the last and two between
# Embeddings (~75 ms each, holding the GIL) for three frames only: the first with a face, the
# middle one and the last; every frame is searched for faces (~20 ms at FRAME_SIDE).
_CACHE = 256  # reference embeddings kept (per account and photo)
# dlib's embedding holds the GIL for its ~75 ms: the engine runs in processes of its own
# (started on first use, models loaded once: ~1.5 s, ~150 MB each), never on the event loop's.
WORKERS = 1

STEP_PROMPTS: dict[str, tuple[str, str]] = {
    "turn_left": ("请把头慢慢转向左边，再转回来", "Turn your head slowly to your left, then back"),
    "turn_right": ("请把头慢慢转向右边，再转回来", "Turn your head slowly to your right and back"),
    "blink": ("请慢慢眨眼（闭眼片刻）", "Blink slowly (close your eyes for a moment)"),
}

StepsFor = Callable[[str], tuple[str, ...]]


def frames_of(response: Mapping[str, Any]) -> list[tuple[int, bytes]]:
    """The answer's frames as (t_ms, JPEG bytes), checked; :class:`InvalidInput` otherwise."""
    frames = response.get("frames")
    if not isinstance(frames, list):
        raise InvalidInput('send the camera frames: {"frames": [{"t_ms", "jpeg"}, ...]}')
    if not MIN_FRAMES <= len(frames) <= MAX_FRAMES:
        raise InvalidInput(
            f"send between {MIN_FRAMES} and {MAX_FRAMES} frames, not {len(frames)}",
            {"min": MIN_FRAMES, "max": MAX_FRAMES},
        )
    out: list[tuple[int, bytes]] = []
    last = -1
    for n, frame in enumerate(frames):
        if not isinstance(frame, Mapping):
            raise InvalidInput(f"frame {n} must be an object with t_ms and jpeg")
        t_ms, text = frame.get("t_ms"), frame.get("jpeg")
        if not isinstance(t_ms, int) or isinstance(t_ms, bool) or not 0 <= t_ms <= MAX_SPAN_MS:
            raise InvalidInput(f"frame {n}: t_ms must be whole milliseconds, 0..{MAX_SPAN_MS}")
        if t_ms <= last:
            raise InvalidInput(f"frame {n}: t_ms must increase from frame to frame")
        last = t_ms
        if not isinstance(text, str) or len(text) > (MAX_FRAME_BYTES * 4) // 3 + 4:
            raise InvalidInput(
                f"frame {n}: jpeg must be base64 of at most {MAX_FRAME_BYTES // 1024} KiB",
                {"limit": MAX_FRAME_BYTES},
            )
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"frame {n}: jpeg is not base64") from None
        if not data.startswith(b"\xff\xd8\xff"):
            raise InvalidInput(f"frame {n}: not a JPEG image")
        out.append((t_ms, data))
    return out


def _evidence(frames: Sequence[tuple[int, bytes]]) -> tuple[bytes, ...]:
    if len(frames) <= EVIDENCE_FRAMES:
        return tuple(f for _, f in frames)
    last = len(frames) - 1
    picks = sorted({round(i * last / (EVIDENCE_FRAMES - 1)) for i in range(EVIDENCE_FRAMES)})
    return tuple(frames[i][1] for i in picks)


Measured = tuple[tuple[float, ...] | None, list[liveness.Observation], list[float]]


def measure(
    frames: list[tuple[int, bytes]],
    photo: bytes | None,
    reference: tuple[float, ...] | None,
) -> Measured:
    """Blocking (in the face check's worker process): the reference embedding (from ``photo``
    unless already known), each frame's observation, and the distances of the embedded
    frames to the reference. The reference is None when the photo has no single face."""
    if reference is None and photo is not None:
        faces = face_engine.find_faces(photo)
        reference = faces[0].embedding if len(faces) == 1 else None
    if reference is None:
        return None, [], []
    pictures: list[Any] = []
    found: list[list[face_engine.Face]] = []
    for _, jpeg in frames:
        try:
            picture = face_engine.decode(jpeg)
            faces = face_engine.find_faces(picture, embed=False)
        except ValueError:  # a JPEG the decoder refuses (NotAnImage)
            picture, faces = None, []
        pictures.append(picture)
        found.append(faces)
    with_face = [n for n, faces in enumerate(found) if faces]
    chosen: list[int] = []
    if with_face:
        chosen = sorted({with_face[0], with_face[len(with_face) // 2], with_face[-1]})
    embeddings = {n: face_engine.embed_face(pictures[n], found[n][0]) for n in chosen}
    first = embeddings[chosen[0]] if chosen else None
    seen = []
    for n, (t_ms, _) in enumerate(frames):
        faces = found[n]
        if n in embeddings:
            faces = [replace(faces[0], embedding=embeddings[n]), *faces[1:]]
        seen.append(face_engine.observation(t_ms, faces, first))
    return reference, seen, [face_engine.distance(reference, e) for e in embeddings.values()]


def _warm_up() -> None:
    face_engine.warm_up()


class FaceVerifier:
    """Implements ``exams.identity.verification.Verifier``."""

    def __init__(
        self,
        photos: ReferencePhotos,
        secret: bytes,
        *,
        threshold: float,
        steps_for: StepsFor | None = None,
        workers: int = WORKERS,
    ) -> None:
        """``workers``: processes that run the face engine (0: threads of this process)."""
        self._photos = photos
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._secret = secret
        self.threshold = threshold
        self._steps_for = steps_for or self._random_steps
        self._references: OrderedDict[tuple[str, str], tuple[float, ...] | None] = OrderedDict()
        self.model = f"{face_engine.MODEL_NAME} ({face_engine.model_version()})"

    def _random_steps(self, attempt_id: str) -> tuple[str, ...]:
        seed = hmac.new(self._secret, b"face-challenge:" + attempt_id.encode(), hashlib.sha256)
        return tuple(liveness.new_challenge(random.Random(seed.digest())))

    async def ready(self, account: Account) -> str | None:
        return None if await self._photos.get(account.id) is not None else "no_reference"

    def challenge(self, account: Account, attempt_id: str) -> dict[str, Any]:
        steps = self._steps_for(attempt_id)
        seconds = max(3, round(SECONDS_PER_STEP * len(steps) + 0.5))
        frames = min(MAX_FRAMES, seconds * FPS)
        prompts = [STEP_PROMPTS.get(s, (s, s)) for s in steps]
        return {
            "kind": "face_liveness",
            "steps": list(steps),
            "step_prompts": [{"zh": zh, "en": en} for zh, en in prompts],
            "seconds": seconds,
            "frames": frames,
            "frame_side": FRAME_SIDE,
            "max_frame_bytes": MAX_FRAME_BYTES,
            "prompt": {
                "zh": "请正对摄像头，按提示依次做：" + "，然后".join(p[0] for p in prompts),
                "en": "Face the camera and follow the steps: "
                + ", then ".join(p[1].lower() for p in prompts),
            },
        }

    async def check(
        self, account: Account, attempt_id: str, response: Mapping[str, Any]
    ) -> Verdict:
        frames = frames_of(response)
        reference = await self._photos.get(account.id)
        if reference is None:
            return Verdict(False, model=self.model, reason="no_reference")
        steps = self._steps_for(attempt_id)
        return await self._judge(account.id, reference, steps, frames)

    async def _measure(
        self, frames: list[tuple[int, bytes]], photo: bytes | None, reference: Any
    ) -> Measured:
        if self._workers == 0:
            return await asyncio.to_thread(measure, frames, photo, reference)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm_up
            )
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, measure, frames, photo, reference
            )
        except BrokenProcessPool as exc:  # killed, out of memory: a new one next time
            if self._pool is pool:
                self._pool = None
            raise VerifierUnavailable("the face check stopped for a moment: try again") from exc

    async def close(self) -> None:
        """End the worker processes (the app's shutdown)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)

    async def _judge(
        self,
        account_id: str,
        photo: bytes,
        steps: tuple[str, ...],
        frames: list[tuple[int, bytes]],
    ) -> Verdict:
        """Measure every frame (in a worker process), judge liveness, then the match."""
        evidence = _evidence(frames)
        key = (account_id, hashlib.sha256(photo).hexdigest())
        known = self._references.get(key)
        reference, seen, distances = await self._measure(
            frames, None if known is not None else photo, known
        )
        self._references[key] = reference
        self._references.move_to_end(key)
        while len(self._references) > _CACHE:
            self._references.popitem(last=False)
        if reference is None:  # the stored photo has no single face (checked on upload)
            return Verdict(False, model=self.model, reason="no_reference", evidence=evidence)
        score = round(statistics.median(distances), 4) if distances else None
        live = liveness.judge(steps, seen)
        if not live.passed:
            reason = f"liveness:{live.reason}"
            return Verdict(False, score, self.model, reason, evidence)
        if score is None or score > self.threshold:
            return Verdict(False, score, self.model, "mismatch", evidence)
        return Verdict(True, score, self.model, None, evidence)
