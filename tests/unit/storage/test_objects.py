"""The storage_url setting and the object store's part sizes (the stores themselves are
tested against local disk and a real S3 server in tests/integration/test_object_store.py)."""

from __future__ import annotations

import pytest

from storage.objects import StorageUrl, check_key
from storage.objects_s3 import MAX_PARTS, MIB, PART_BYTES, part_size
from web.settings import Settings, SettingsError


def test_storage_urls() -> None:
    url = StorageUrl.parse("s3://exams-media/site-a?endpoint=http://127.0.0.1:8333&region=eu-1")
    assert (url.bucket, url.prefix, url.endpoint, url.region) == (
        "exams-media",
        "site-a/",
        "http://127.0.0.1:8333",
        "eu-1",
    )
    assert StorageUrl.parse("s3://bucket").endpoint is None
    assert StorageUrl.parse("file:///srv/objects").path is not None
    for bad in ("http://x", "s3://A_B", "s3://ok-bucket?endpoint=ftp://x", "s3://ok?color=1"):
        with pytest.raises(ValueError):
            StorageUrl.parse(bad)


def test_a_bad_storage_url_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="storage_url"):
        Settings(storage_url="http://127.0.0.1:8333/bucket").validate()
    with pytest.raises(SettingsError, match="storage_piece_ms"):
        Settings(storage_piece_ms=10).validate()
    assert Settings(storage_url="s3://media?endpoint=http://127.0.0.1:8333").validate()


def test_parts_are_at_least_5_mib_and_at_most_10000() -> None:
    assert part_size(1) == PART_BYTES >= 5 * MIB
    for size in (10 * PART_BYTES, 80 * 1024 * MIB, 2 * 1024**4):  # 80 GiB, 2 TiB
        step = part_size(size)
        assert step >= 5 * MIB and step % MIB == 0
        assert -(-size // step) <= MAX_PARTS


def test_keys_never_leave_the_store() -> None:
    assert check_key("recordings/t1/segment-000.webm")
    for bad in ("../etc/passwd", "/abs", "a/../../b", "a b", ""):
        with pytest.raises(ValueError):
            check_key(bad)
