"""The real-person verifier the ``verifier`` setting names (issue #17).

``face`` (the default): the built-in offline face check (media/face_verifier.py);
``vendor``: a commercial service (storage/face_vendor.py); ``id_suffix``: the last six
characters of the ID number, a stand-in for trials and the demo. The face engine (dlib and
its models) is imported only when the face check is chosen.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol, runtime_checkable

from exams.identity.reference_photos import ReferencePhotos
from exams.identity.verification import IdSuffixVerifier, Verifier
from storage.face_vendor import VendorSession
from web.settings import Settings


@runtime_checkable
class Closing(Protocol):
    async def close(self) -> None: ...


async def close_verifier(verifier: Verifier) -> None:
    """End what the verifier holds open (the face check's worker processes)."""
    if isinstance(verifier, Closing):
        await verifier.close()


def make_verifier(
    settings: Settings,
    photos: ReferencePhotos,
    secret: bytes,
    vendor_http: VendorSession | None = None,
) -> Verifier:
    """``vendor_http``: the app's HTTP client session for the vendor (closed at shutdown)."""
    if settings.verifier == "id_suffix":
        return IdSuffixVerifier()
    if settings.verifier == "vendor":
        from storage.face_vendor import HttpFaceVerifier

        return HttpFaceVerifier(
            settings.vendor_url,
            settings.vendor_key,
            timeout_s=settings.vendor_timeout_s,
            threshold=settings.vendor_threshold,
            name=settings.vendor_name,
            references=photos,
            http=vendor_http,
        )
    from media import face_engine
    from media.face_verifier import FaceVerifier

    fixed = tuple(s.strip() for s in settings.face_challenge.split(",") if s.strip())
    return FaceVerifier(
        photos,
        hmac.new(secret, b"face-challenge", hashlib.sha256).digest(),
        threshold=settings.face_match_threshold or face_engine.DEFAULT_THRESHOLD,
        steps_for=(lambda attempt_id: fixed) if fixed else None,
    )
