"""tus headers read strictly: metadata, checksums."""

from __future__ import annotations

import base64
import hashlib

import pytest

from exams.shared.errors import InvalidInput
from web import tus


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_metadata_pairs_decode_to_text() -> None:
    raw = f"filename {b64('演奏.mp4')},exam_id {b64('e1')},empty"
    assert tus.metadata(raw) == {"filename": "演奏.mp4", "exam_id": "e1", "empty": ""}
    assert tus.metadata(None) == {} and tus.metadata("") == {}


@pytest.mark.parametrize(
    "raw",
    [
        "filename not-base64!",
        f"a {b64('x')},a {b64('y')}",  # repeated key
        f"bad key {b64('x')}",
        "filename " + base64.b64encode(b"\xff\xfe").decode(),  # not UTF-8
        "k " + "A" * 5000,
    ],
)
def test_bad_metadata_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        tus.metadata(raw)


def test_checksums() -> None:
    digest = hashlib.sha1(b"body").digest()
    found = tus.checksum("sha1 " + base64.b64encode(digest).decode())
    assert found is not None and (found.algorithm, found.digest) == ("sha1", digest)
    assert tus.checksum(None) is None
    for bad in ("crc32 AAAA", "sha1 AAAA", "sha1 !!!", "sha256 " + b64("short")):
        with pytest.raises(InvalidInput):
            tus.checksum(bad)


def test_dates_are_http_dates() -> None:
    assert tus.http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
