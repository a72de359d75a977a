"""Candidates' reference photos (报名照片): the face the face check compares with.

The admission unit uploads them (``exams.admission.reference_photo_uploads``), keyed by the
person on its admitted list (ID type and number): a candidate may register after the upload.
The verifiers read them through :class:`ReferencePhotos`, by account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

# What face_engine.photo_problems (and the upload's own checks) may say, in both languages.
PROBLEMS: dict[str, tuple[str, str]] = {
    "not_an_image": ("不是 JPEG 或 PNG 图片", "not a JPEG or PNG image"),
    "no_face": ("照片中找不到人脸", "no face found in the photo"),
    "several_faces": ("照片中有多张人脸，只能有一张", "more than one face in the photo: one only"),
    "face_too_small": ("人脸太小，请用正面近照", "the face is too small: use a close-up"),
    "blurry": ("照片模糊", "the photo is blurry"),
    "too_dark": ("照片太暗", "the photo is too dark"),
    "too_large": ("文件太大", "the file is too large"),
    "too_small": ("文件太小，不是照片", "the file is too small to be a photo"),
    "unknown_id_number": (
        "准考名单中没有这个证件号码（文件名应为证件号码）",
        "no such ID number on the admitted list (name each file by the ID number)",
    ),
    "ambiguous_id_number": (
        "准考名单中有多人使用这个证件号码",
        "several people on the admitted list have this ID number",
    ),
    "bad_name": (
        "文件名应为证件号码加 .jpg 或 .png",
        "name the file by the ID number, with .jpg or .png",
    ),
}


def problem(code: str) -> dict[str, str]:
    zh, en = PROBLEMS.get(code, (code, code))
    return {"code": code, "zh": zh, "en": en}


@dataclass(frozen=True)
class ReferencePhoto:
    unit_id: str
    id_type: str
    id_number: str
    key: str  # in the file store
    media_type: str
    size: int
    uploaded_at: float
    uploaded_by: str

    def describe(self) -> dict[str, Any]:
        return {
            "id_type": self.id_type,
            "id_number": self.id_number,
            "media_type": self.media_type,
            "bytes": self.size,
            "uploaded_at": self.uploaded_at,
        }


class ReferencePhotos(Protocol):
    """What the verifiers use."""

    async def get(self, account_id: str) -> bytes | None:
        """The account holder's reference photo (JPEG/PNG as uploaded), or None."""
        ...


class ReferencePhotoRepository(Protocol):
    async def put(self, photo: ReferencePhoto) -> str | None:
        """Store (or replace) the unit's photo of this person; the replaced photo's key."""
        ...

    async def for_account(self, account_id: str) -> ReferencePhoto | None:
        """The newest photo of the account's person (ID type and number), any unit."""
        ...

    async def for_unit(self, unit_id: str) -> list[ReferencePhoto]: ...
