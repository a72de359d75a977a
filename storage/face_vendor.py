"""Real-person verification by a commercial service (实人认证 / 人脸核身 vendor) over HTTPS.

:class:`HttpFaceVerifier` implements ``exams.identity.verification.Verifier``: the page runs
the same face-liveness challenge as the built-in face check (turn, blink: the frames it
captures), and the vendor judges both liveness and the likeness, against the reference photo
the unit gave (``ReferencePhotos``) or, without one, against the photo the national ID
register holds for the name and ID number (the usual mode of such services).

The exchange, as these services have it (one POST, JSON both ways)::

    POST <vendor_url>
    Authorization: HMAC-SHA256 Timestamp=<unix s>, Nonce=<hex>, Signature=<hex>
        Signature = HMAC-SHA256(vendor_key, "POST\\n<path>\\n<Timestamp>\\n<Nonce>\\n"
                                            + hex(SHA-256(body)))
    {"request_id": "<ours>", "name": "...", "id_type": "resident_id", "id_number": "...",
     "mode": "photo" | "id_register", "photo": "<base64>" | null,
     "actions": ["turn_left", "blink"], "best_frame": "<base64 JPEG>",
     "frames": [{"t_ms": 0, "image": "<base64 JPEG>"}, ...]}

    200 {"code": 0, "message": "OK", "request_id": "<theirs>",
         "result": {"passed": true, "score": 92.4, "liveness": true}}

The key never travels (only the signature does) and is never logged. A verdict comes only
from a 2xx answer with a ``result``; anything else (timeout, refused connection, 5xx, 429,
4xx, a body that is not the JSON above) is the service's fault, not the candidate's:
:class:`~exams.identity.verification.VerifierUnavailable` (not counted as a failure; the page
says so and the candidate may try again at once).

The aiohttp client session (:class:`VendorSession`, the app's) is made on first use (on the
running loop) and closed at shutdown by the app's lifecycle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from exams.identity import liveness
from exams.identity.accounts import Account
from exams.identity.verification import Verdict, VerifierUnavailable
from exams.shared.errors import InvalidInput

log = logging.getLogger("examcast.face_vendor")

MAX_FRAMES = 40
MAX_FRAME_BYTES = 512 * 1024
KEPT_FRAMES = 3  # the best frame, the first and the last: the evidence kept with the result
# the page's capture, as for the built-in face check (media/face_verifier.py)
SECONDS_PER_STEP = 2.5
FPS = 4
FRAME_SIDE = 360
PAGE_FRAME_BYTES = 64 * 1024
STEP_PROMPTS: dict[str, tuple[str, str]] = {
    "turn_left": ("请把头慢慢转向左边，再转回来", "Turn your head slowly to your left, then back"),
    "turn_right": ("请把头慢慢转向右边，再转回来", "Turn your head slowly to your right and back"),
    "blink": ("请慢慢眨眼（闭眼片刻）", "Blink slowly (close your eyes for a moment)"),
}
UNAVAILABLE = (
    "the identity check service did not answer properly; this did not count as a try: "
    "please try again now"
)


class ReferencePhotos(Protocol):
    """``exams.identity.reference_photos.ReferencePhotos`` (the part used here)."""

    async def get(self, account_id: str) -> bytes | None: ...


class VendorSession:
    """The app's HTTP client session for the vendor: made on first use (on the running
    loop), closed at shutdown (the app's lifecycle)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpFaceVerifier:
    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout_s: float = 10.0,
        threshold: float = 0.0,
        name: str = "vendor",
        references: ReferencePhotos | None = None,
        http: VendorSession | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the vendor URL must be http:// or https://")
        self._url = url
        self._path = urlsplit(url).path or "/"
        self._key = key.encode()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._threshold = threshold  # 0: the vendor's own pass/fail
        self.model = f"vendor:{name}"
        self._references = references
        self._http = http if http is not None else VendorSession()

    def __repr__(self) -> str:  # never the key
        return f"HttpFaceVerifier({self._url!r}, model={self.model!r})"

    async def ready(self, account: Account) -> str | None:
        return None  # no reference photo: the vendor compares with the ID register's photo

    def challenge(self, account: Account, attempt_id: str) -> dict[str, Any]:
        """The face-liveness challenge the page runs (the built-in check's shape): the
        frames it captures go to the vendor, with the steps as its "actions"."""
        steps = self._steps(attempt_id)
        seconds = max(3, round(SECONDS_PER_STEP * len(steps) + 0.5))
        prompts = [STEP_PROMPTS.get(s, (s, s)) for s in steps]
        return {
            "kind": "face_liveness",
            "steps": list(steps),
            "step_prompts": [{"zh": zh, "en": en} for zh, en in prompts],
            "seconds": seconds,
            "frames": min(MAX_FRAMES, seconds * FPS),
            "frame_side": FRAME_SIDE,
            "max_frame_bytes": PAGE_FRAME_BYTES,
            "prompt": {
                "zh": "请正对摄像头，按提示依次做：" + "，然后".join(p[0] for p in prompts),
                "en": "Face the camera and follow the steps: "
                + ", then ".join(p[1].lower() for p in prompts),
            },
        }

    def _steps(self, attempt_id: str) -> tuple[str, ...]:
        """Drawn from the attempt with the key (the same for a resumed attempt; nobody
        without the key can tell them in advance)."""
        seed = hmac.new(self._key, b"face-challenge:" + attempt_id.encode(), hashlib.sha256)
        return tuple(liveness.new_challenge(random.Random(seed.digest())))

    async def check(
        self, account: Account, attempt_id: str, response: Mapping[str, Any]
    ) -> Verdict:
        frames = _frames(response)
        best = max(frames, key=len)  # the sharpest JPEG is the largest, as a rule
        photo = None if self._references is None else await self._references.get(account.id)
        body = json.dumps(
            {
                "request_id": attempt_id,
                "name": account.name,
                "id_type": account.id_type,
                "id_number": account.id_number,
                "mode": "id_register" if photo is None else "photo",
                "photo": None if photo is None else _b64(photo),
                "actions": list(self._steps(attempt_id)),
                "best_frame": _b64(best),
                "frames": [
                    {"t_ms": t, "image": _b64(jpeg)}
                    for t, jpeg in zip(_times(response), frames, strict=True)
                ],
            },
            ensure_ascii=False,
        ).encode()
        answer = await self._post(body, attempt_id)
        result = answer["result"]
        score = result.get("score")
        score = float(score) if isinstance(score, int | float) else None
        liveness = result.get("liveness", True) is not False
        passed = result.get("passed") is True
        if self._threshold > 0:
            passed = liveness and score is not None and score >= self._threshold
        reason = None
        if not passed:
            reason = "liveness:vendor" if not liveness else "mismatch"
        kept = tuple(dict.fromkeys((best, frames[0], frames[-1])))[:KEPT_FRAMES]
        return Verdict(passed, score=score, model=self.model, reason=reason, evidence=kept)

    async def close(self) -> None:
        await self._http.close()

    # -- the exchange ------------------------------------------------------------------------

    def _headers(self, body: bytes) -> dict[str, str]:
        stamp, nonce = str(int(time.time())), secrets.token_hex(8)
        text = "\n".join(["POST", self._path, stamp, nonce, hashlib.sha256(body).hexdigest()])
        signature = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
        return {
            "Authorization": f"HMAC-SHA256 Timestamp={stamp}, Nonce={nonce}, Signature={signature}",
            "Content-Type": "application/json; charset=utf-8",
        }

    async def _post(self, body: bytes, attempt_id: str) -> dict[str, Any]:
        try:
            async with self._http.get().post(
                self._url, data=body, headers=self._headers(body), timeout=self._timeout
            ) as reply:
                raw = await reply.read()
                status = reply.status
        except TimeoutError:
            log.warning("face vendor: no answer in time for attempt %s", attempt_id)
            raise VerifierUnavailable(UNAVAILABLE) from None
        except aiohttp.ClientError as exc:
            log.warning("face vendor: %s for attempt %s", type(exc).__name__, attempt_id)
            raise VerifierUnavailable(UNAVAILABLE) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        request_id = answer.get("request_id") if isinstance(answer, dict) else None
        if not 200 <= status < 300 or not _has_result(answer):
            level = logging.ERROR if status in (400, 401, 403) else logging.WARNING
            log.log(
                level,
                "face vendor: HTTP %d%s for attempt %s (vendor request %s)",
                status,
                "" if isinstance(answer, dict) else ", not JSON",
                attempt_id,
                request_id,
            )
            raise VerifierUnavailable(UNAVAILABLE)
        assert isinstance(answer, dict)
        log.info("face vendor: attempt %s judged (vendor request %s)", attempt_id, request_id)
        return answer


def _has_result(answer: Any) -> bool:
    return (
        isinstance(answer, dict)
        and answer.get("code") == 0
        and isinstance(answer.get("result"), dict)
        and isinstance(answer["result"].get("passed"), bool)
    )


def _frames(response: Mapping[str, Any]) -> list[bytes]:
    frames = response.get("frames")
    if not isinstance(frames, list) or not 1 <= len(frames) <= MAX_FRAMES:
        raise InvalidInput(f"send 1 to {MAX_FRAMES} camera frames")
    out = []
    for frame in frames:
        data = frame.get("jpeg") if isinstance(frame, dict) else None
        try:
            jpeg = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
        except (binascii.Error, ValueError):
            jpeg = b""
        if not jpeg.startswith(b"\xff\xd8\xff") or len(jpeg) > MAX_FRAME_BYTES:
            raise InvalidInput(
                f"each frame must be a base64 JPEG of at most {MAX_FRAME_BYTES // 1024} KiB"
            )
        out.append(jpeg)
    return out


def _times(response: Mapping[str, Any]) -> list[int]:
    frames = response.get("frames") or []
    return [
        int(f["t_ms"]) if isinstance(f.get("t_ms"), int) and f["t_ms"] >= 0 else 0 for f in frames
    ]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
