from __future__ import annotations

import pytest

from exams.identity.passwords import REASONS, WeakPassword, check_password
from exams.shared.errors import InvalidInput
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


@pytest.mark.parametrize(
    "password,reason",
    [
        ("aaaaaaaa", "repeats"),
        ("abcabcabc", "repeats"),
        ("abcdefgh", "sequence"),
        ("qwertyuiop", "sequence"),
        ("abcd1234", "sequence"),
        ("87654321zyx", "sequence"),
        ("password1", "common"),
        ("iloveyou", "common"),
        ("woaini1314", "common"),
        ("Zhang123456", "common"),
        ("12345678901", "digits_only"),
        ("1234567", "too_short"),
    ],
)
def test_common_and_trivial_passwords_are_refused_with_their_reason(
    password: str, reason: str
) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password(password)
    assert refused.value.reason == reason
    assert refused.value.details == {"reason": reason}
    assert reason in REASONS


def test_passwords_built_from_the_phone_or_id_number_are_refused() -> None:
    id_number = "110105200701010012"
    for password in ("me13800138000", "zz138001x", "born20070101!", "card010012ok"):
        with pytest.raises(WeakPassword) as refused:
            check_password(password, phone="13800138000", id_number=id_number)
        assert refused.value.reason == "personal", password
    # Six digits in a row of neither: fine.
    check_password("tiger-lily-2024", phone="13800138000", id_number=id_number)
    check_password("correct horse battery staple")
