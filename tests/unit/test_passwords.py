from __future__ import annotations

import pytest

from exams.errors import InvalidInput
from exams.passwords import check_password
from web.passwords import Argon2Hasher


@pytest.mark.parametrize(
    "password,why",
    [("short1a", "at least 8"), ("12345678901", "digits only"), ("x" * 129, "at most")],
)
def test_policy_refuses_with_the_reason(password: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        check_password(password)


def test_policy_refuses_the_phone_number_inside_the_password() -> None:
    with pytest.raises(InvalidInput, match="phone"):
        check_password("pw13800138000", phone="13800138000")
    check_password("correct horse battery", phone="13800138000")


async def test_argon2id_hashes_verify_and_never_raise_on_mismatch() -> None:
    hasher = Argon2Hasher(time_cost=1, memory_kib=64, threads=1)
    try:
        hashed = await hasher.hash("correct horse")
        assert hashed.startswith("$argon2id$")
        assert await hasher.verify(hashed, "correct horse")
        assert not await hasher.verify(hashed, "wrong horse")
        assert not await hasher.verify("not a hash", "correct horse")
    finally:
        hasher.close()
