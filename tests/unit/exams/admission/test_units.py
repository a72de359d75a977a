from __future__ import annotations

import pytest

from exams.identity.accounts import Role
from exams.shared.errors import Conflict, Forbidden, InvalidAdmittedList, InvalidInput
from exams.shared.ports import Event
from tests.support.world import World, resident_id


async def test_an_admin_imports_and_reads_only_their_own_unit(w: World) -> None:
    await w.s.units.add("10001", "甲大学")
    await w.s.units.add("20002", "乙大学")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    csv = f"name,id_type,id_number\n张三,resident_id,{resident_id(7)}\n".encode()
    info = await w.s.units.import_list(admin, "10001", csv, "c")
    assert info.entries == 1
    listing = await w.s.units.admitted_list(admin, "10001", "c")
    assert listing["entries"][0]["name"] == "张三"
    with pytest.raises(Forbidden):
        await w.s.units.import_list(admin, "20002", csv, "c")
    with pytest.raises(Forbidden):
        await w.s.units.admitted_list(admin, "20002", "c")
    denied = [e for e in await w.s.audit.recent() if e.event is Event.ACCESS_DENIED]
    assert {e.detail["unit_id"] for e in denied} == {"20002"}


async def test_a_bad_file_changes_nothing(w: World) -> None:
    await w.s.units.add("10001", "甲大学")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    good = f"name,id_type,id_number\n张三,resident_id,{resident_id(7)}\n".encode()
    await w.s.units.import_list(admin, "10001", good, "c")
    bad = f"name,id_type,id_number\n李四,resident_id,{resident_id(8)}\n,passport,E1234567\n"
    with pytest.raises(InvalidAdmittedList):
        await w.s.units.import_list(admin, "10001", bad.encode(), "c")
    listing = await w.s.units.admitted_list(admin, "10001", "c")
    assert [e["name"] for e in listing["entries"]] == ["张三"]


async def test_unit_ids_are_checked_and_unique(w: World) -> None:
    await w.s.units.add("10001", "甲大学")
    with pytest.raises(Conflict):
        await w.s.units.add("10001", "again")
    with pytest.raises(InvalidInput):
        await w.s.units.add("../x", "bad")
