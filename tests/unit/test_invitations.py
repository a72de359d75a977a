"""Staff invitations on a real SQLite file with a clock the test moves (exams.invitations)."""

from __future__ import annotations

import pytest

from exams.accounts import Role
from exams.errors import Forbidden, TooManyRequests
from exams.invitations import TTL_S
from tests.support.world import PASSWORD, World


async def test_an_invitation_lapses_after_two_weeks(w: World) -> None:
    operator = await w.staff(Role.OPERATOR)
    await w.s.units.add("10001", "北京某大学")
    await w.s.invitations.invite_unit_admin(operator, "10001", "13900001111", "c")
    w.clock.advance(TTL_S + 1)
    late = await w.register("周", phone="13900001111")
    assert late.role is Role.CANDIDATE
    [listed] = await w.s.invitations.of_unit(operator, "10001")
    assert listed["state"] == "expired"


async def test_an_admin_of_another_unit_is_not_moved(w: World) -> None:
    operator = await w.staff(Role.OPERATOR)
    for unit in ("10001", "10002"):
        await w.s.units.add(unit, f"Unit {unit}")
    admin = await w.staff(Role.UNIT_ADMIN, "10002")
    await w.s.invitations.invite_unit_admin(operator, "10001", admin.phone, "c")
    same, _ = await w.s.accounts.login(admin.phone, PASSWORD, "c")
    assert (same.role, same.unit_id) == (Role.UNIT_ADMIN, "10002")
    [listed] = await w.s.invitations.of_unit(operator, "10001")
    assert listed["state"] == "declined"


async def test_only_operators_invite_unit_admins_and_invitations_are_bounded(w: World) -> None:
    await w.s.units.add("10001", "Unit")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    with pytest.raises(Forbidden):
        await w.s.invitations.invite_unit_admin(admin, "10001", "13900001111", "c")
    operator = await w.staff(Role.OPERATOR)
    for n in range(30):
        await w.s.invitations.invite_unit_admin(operator, "10001", f"139{n:08d}", "c")
    with pytest.raises(TooManyRequests):
        await w.s.invitations.invite_unit_admin(operator, "10001", "13900009999", "c")
    w.clock.advance(3600)
    await w.s.invitations.invite_unit_admin(operator, "10001", "13900009999", "c")
