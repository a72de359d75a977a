"""The vendor adapter against the local stand-in vendor (a real HTTP server on loopback):
what it sends (signed, the frames and the reference photo), how each answer maps to a
verdict, and that every fault of the vendor's is "unavailable", never a failed try."""

from __future__ import annotations

import base64
import logging
from typing import Any

import cv2
import pytest
from skimage import data

from exams.identity.accounts import Account, Role
from exams.identity.verification import Verdict, VerifierUnavailable
from exams.shared.errors import InvalidInput
from storage.face_vendor import HttpFaceVerifier
from tests.support.face_vendor import FaceVendor, face_vendor

KEY = "vendor-secret-4f9a1c2e7d"
WHO = Account("a1", "13800000001", "张三", "resident_id", "11010519491231002X", Role.CANDIDATE, 0.0)


def jpeg(rgb: Any, size: int = 320) -> bytes:
    small = cv2.resize(rgb, (size, size * rgb.shape[0] // rgb.shape[1]))
    ok, out = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    assert ok
    return out.tobytes()


FACE = jpeg(data.astronaut())
SHARPER = jpeg(data.astronaut(), 480)


def answer(*frames: bytes) -> dict[str, Any]:
    return {
        "frames": [
            {"t_ms": 200 * i, "jpeg": base64.b64encode(f).decode()} for i, f in enumerate(frames)
        ]
    }


class Photos:
    def __init__(self, photo: bytes | None) -> None:
        self.photo = photo

    async def get(self, account_id: str) -> bytes | None:
        return self.photo


def verifier(vendor: FaceVendor, **kw: Any) -> HttpFaceVerifier:
    kw.setdefault("timeout_s", 1.0)
    return HttpFaceVerifier(vendor.url, KEY, name="standin", **kw)


async def test_a_pass_sends_a_signed_request_with_frames_and_reference_photo() -> None:
    async with face_vendor(KEY, "pass") as vendor:
        v = verifier(vendor, references=Photos(FACE))
        try:
            verdict = await v.check(WHO, "att1", answer(FACE, SHARPER, FACE))
        finally:
            await v.close()
    assert verdict == Verdict(True, score=92.4, model="vendor:standin", evidence=(SHARPER, FACE))
    [sent] = vendor.requests
    assert sent.signed
    assert KEY not in str(sent.headers) and KEY not in str(sent.body)
    body = sent.body
    assert (body["name"], body["id_number"], body["mode"]) == ("张三", WHO.id_number, "photo")
    assert base64.b64decode(body["photo"]) == FACE
    assert base64.b64decode(body["best_frame"]) == SHARPER
    assert [f["t_ms"] for f in body["frames"]] == [0, 200, 400]
    assert body["actions"] == v.challenge(WHO, "att1")["steps"]


async def test_without_a_reference_photo_the_vendor_uses_the_id_register() -> None:
    async with face_vendor(KEY, "pass") as vendor:
        v = verifier(vendor, references=Photos(None))
        try:
            assert (await v.check(WHO, "att1", answer(FACE))).passed
        finally:
            await v.close()
    assert vendor.requests[0].body["mode"] == "id_register"
    assert vendor.requests[0].body["photo"] is None


async def test_another_person_fails_with_the_vendors_score() -> None:
    async with face_vendor(KEY, "fail") as vendor:
        v = verifier(vendor)
        try:
            verdict = await v.check(WHO, "att1", answer(FACE))
        finally:
            await v.close()
    assert (verdict.passed, verdict.score, verdict.reason) == (False, 18.7, "mismatch")
    assert verdict.evidence == (FACE,)


async def test_our_threshold_overrides_the_vendors_pass() -> None:
    async with face_vendor(KEY, "pass") as vendor:
        v = verifier(vendor, threshold=95)
        try:
            verdict = await v.check(WHO, "att1", answer(FACE))
        finally:
            await v.close()
    assert (verdict.passed, verdict.score) == (False, 92.4)


@pytest.mark.parametrize("mode", ["slow", "500", "garbage", "429"])
async def test_every_fault_of_the_vendor_is_unavailable(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with face_vendor(KEY, mode) as vendor:
        v = verifier(vendor)
        try:
            with pytest.raises(VerifierUnavailable) as raised:
                await v.check(WHO, "att1", answer(FACE))
        finally:
            await v.close()
    assert raised.value.code == "verifier_unavailable"
    assert "try again" in str(raised.value)
    assert KEY not in caplog.text and "att1" in caplog.text


async def test_a_wrong_key_and_a_closed_port_are_unavailable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with face_vendor(KEY, "pass") as vendor:
        v = HttpFaceVerifier(vendor.url, "another-key-123456", timeout_s=1.0)
        try:
            with pytest.raises(VerifierUnavailable):
                await v.check(WHO, "att1", answer(FACE))
        finally:
            await v.close()
        assert not vendor.requests[0].signed
        url = vendor.url
    v = HttpFaceVerifier(url, KEY, timeout_s=1.0)  # the stand-in has stopped: refused
    try:
        with pytest.raises(VerifierUnavailable):
            await v.check(WHO, "att2", answer(FACE))
    finally:
        await v.close()
    assert "another-key-123456" not in caplog.text and KEY not in repr(v)


@pytest.mark.parametrize(
    "response",
    [{}, {"frames": []}, {"frames": [{"jpeg": "not base64!"}]}, answer(b"\x89PNG....")],
)
async def test_a_malformed_answer_is_refused_before_the_vendor_is_asked(
    response: dict[str, Any],
) -> None:
    async with face_vendor(KEY, "pass") as vendor:
        v = verifier(vendor)
        with pytest.raises(InvalidInput):
            await v.check(WHO, "att1", response)
        await v.close()
    assert vendor.requests == []


def test_the_challenge_is_the_same_for_the_same_attempt() -> None:
    v = HttpFaceVerifier("https://vendor.example/v1/person/verify", KEY)
    first = v.challenge(WHO, "att1")
    assert first == v.challenge(WHO, "att1")
    assert first["kind"] == "face_liveness"
    assert sorted(first["steps"]) == ["blink", "turn_left", "turn_right"]
    assert first["prompt"]["zh"] and first["prompt"]["en"]
    assert len(first["step_prompts"]) == 3 and first["frames"] >= 6
    others = {tuple(v.challenge(WHO, f"att{k}")["steps"]) for k in range(40)}
    assert len(others) > 1  # drawn per attempt
