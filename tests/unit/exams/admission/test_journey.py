from __future__ import annotations

import pytest

from exams.admission.documents import Document, Documents, Kind
from exams.admission.journey import Step
from exams.identity.accounts import Role
from exams.shared.errors import Conflict, Forbidden, NotAdmitted, NotFound, StepRequired
from exams.shared.ports import Event
from tests.support.world import World


async def test_every_step_needs_the_ones_before(w: World) -> None:
    who = await w.register()
    docs = w.s.consent.documents
    with pytest.raises(StepRequired) as first:
        await w.s.consent.read_notice(who, docs.version(Kind.NOTICE))
    assert first.value.details == {"step": "accept_agreements", "requested": "read_notice"}
    for step in list(Step)[1:]:
        with pytest.raises(StepRequired):
            await w.s.journey.require(who, step)
    assert (await w.s.journey.progress(who)).next_step is Step.ACCEPT_AGREEMENTS


@pytest.mark.parametrize("step", list(Step))
async def test_a_candidate_at_each_step_is_told_that_step(w: World, step: Step) -> None:
    who = await w.candidate_at(step)
    progress = await w.s.journey.progress(who)
    assert progress.next_step is step
    await w.s.journey.require(who, step)


async def test_skipping_the_commitment_letter_is_refused(w: World) -> None:
    who = await w.candidate_at(Step.ACCEPT_COMMITMENT)
    take = await w.stored_take(who.owner)
    with pytest.raises(StepRequired) as refused:
        await w.s.admission.device_check(who, take.id)
    assert refused.value.details["step"] == "accept_commitment"


async def test_a_stale_agreement_version_is_refused_and_a_new_one_must_be_accepted(
    w: World,
) -> None:
    who = await w.candidate_at(Step.READ_NOTICE)
    with pytest.raises(Conflict) as stale:
        await w.s.consent.accept_agreements(who, "2000-1", "2025-1", "c")
    assert stale.value.details["kind"] == "user_agreement"
    old = w.s.consent.documents.current(Kind.AGREEMENT)
    newer = Document(Kind.AGREEMENT, "2099-1", old.title, old.body)
    w.s.consent.documents._docs[Kind.AGREEMENT] = newer  # a new text is published
    assert (await w.s.journey.progress(who)).next_step is Step.ACCEPT_AGREEMENTS
    with pytest.raises(StepRequired):
        await w.s.journey.require(who, Step.READ_NOTICE)


async def test_choosing_a_unit_whose_list_does_not_hold_you(w: World) -> None:
    who = await w.candidate_at(Step.CHOOSE_UNIT)
    other = await w.register("王五")
    await w.admit("20002", [other])
    with pytest.raises(NotAdmitted) as refused:
        await w.s.admission.choose(who, "20002", "c")
    assert refused.value.details["check"] == ["name", "id_type", "id_number"]
    assert refused.value.details["registered"]["id_number"] == who.id_number
    with pytest.raises(NotFound):
        await w.s.admission.choose(who, "nope", "c")
    denied = [
        e for e in await w.s.audit.recent(account_id=who.id) if e.event is Event.ACCESS_DENIED
    ]
    assert denied and denied[0].detail["unit_id"] == "20002"


async def test_name_must_match_too(w: World) -> None:
    who = await w.candidate_at(Step.CHOOSE_UNIT, name="张三")
    impostor = type(who)(**{**who.__dict__, "name": "张叁"})
    await w.admit("30003", [impostor])
    with pytest.raises(NotAdmitted):
        await w.s.admission.choose(who, "30003", "c")


async def test_units_list_marks_where_you_are_admitted(w: World) -> None:
    who = await w.candidate_at(Step.CHOOSE_UNIT)
    await w.admit("10001", [who])
    await w.admit("20002", [])
    listing = await w.s.admission.units_for(who)
    assert {u["unit_id"]: u["admitted"] for u in listing["units"]} == {
        "10001": True,
        "20002": False,
    }


async def test_confirm_checks_the_list_again(w: World) -> None:
    who = await w.candidate_at(Step.CONFIRM_DETAILS)
    details = await w.s.admission.details(who)
    assert details["details"]["name"] == who.name and details["unit"]["unit_id"] == "10001"
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    await w.s.units.import_list(
        admin, "10001", b"name,id_type,id_number\nX,passport,E1234567\n", "c"
    )
    with pytest.raises(StepRequired) as refused:
        await w.s.admission.confirm(who, "c")
    assert refused.value.details["reason"] == "removed_from_admitted_list"
    assert refused.value.details["step"] == "choose_unit"


async def test_a_re_import_that_removes_a_candidate_sends_them_back_to_choosing_a_unit(
    w: World,
) -> None:
    who = await w.candidate_at(Step.EXAMS)
    other = await w.candidate_at(Step.EXAMS, name="李四")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    row = f"{other.name},{other.id_type},{other.id_number}\n".encode()
    await w.s.units.import_list(admin, "10001", b"name,id_type,id_number\n" + row, "c")
    progress = await w.s.journey.progress(who)
    assert (progress.next_step, progress.unit_id, progress.removed_from) == (
        Step.CHOOSE_UNIT,
        None,
        "10001",
    )
    assert progress.describe()["removed_from_unit"] == "10001"
    with pytest.raises(StepRequired) as refused:
        await w.s.journey.require(who, Step.EXAMS)
    assert refused.value.details == {
        "step": "choose_unit",
        "requested": "exams",
        "reason": "removed_from_admitted_list",
        "unit_id": "10001",
    }
    assert "10001" in refused.value.message and "contact the unit" in refused.value.message
    units = await w.s.admission.units_for(who)
    assert units["chosen_unit_id"] is None and units["removed_from_unit"] == "10001"
    assert (await w.s.journey.progress(other)).next_step is Step.EXAMS  # still on the list
    with pytest.raises(NotAdmitted):
        await w.s.admission.choose(who, "10001", "c")
    # Put back on the list: their journey is where it was.
    await w.admit("10001", [who])
    back = await w.s.journey.progress(who)
    assert (back.next_step, back.unit_id, back.removed_from) == (Step.EXAMS, "10001", None)


async def test_a_removed_candidate_may_choose_another_unit_that_admits_them(w: World) -> None:
    who = await w.candidate_at(Step.EXAMS)
    await w.admit("20002", [who])
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    await w.s.units.import_list(
        admin, "10001", b"name,id_type,id_number\nX,passport,E1234567\n", "c"
    )
    await w.s.admission.choose(who, "20002", "c")
    progress = await w.s.journey.progress(who)
    assert (progress.next_step, progress.unit_id, progress.removed_from) == (
        Step.CONFIRM_DETAILS,
        "20002",
        None,
    )


async def test_device_check_needs_a_stored_device_check_take_of_your_own(w: World) -> None:
    who = await w.candidate_at(Step.DEVICE_CHECK)
    other = await w.register("王五")
    with pytest.raises(NotFound):
        await w.s.admission.device_check(who, "missing")
    with pytest.raises(NotFound):
        await w.s.admission.device_check(who, (await w.stored_take(other.owner)).id)
    with pytest.raises(Conflict):
        await w.s.admission.device_check(who, (await w.stored_take(who.owner, "formal")).id)
    record = await w.s.admission.device_check(who, (await w.stored_take(who.owner)).id)
    assert record.step is Step.DEVICE_CHECK and record.done_at == w.clock.now
    assert (await w.s.journey.progress(who)).next_step is Step.EXAMS


async def test_the_device_check_is_skipped_when_the_unit_has_only_offline_questions(
    w: World,
) -> None:
    async def offline_only(unit_id: str) -> bool:
        return unit_id != "40004"

    w.s.journey.device_check_required = offline_only
    who = await w.candidate_at(Step.DEVICE_CHECK, unit_id="40004")
    progress = await w.s.journey.progress(who)
    assert progress.next_step is Step.EXAMS and not progress.device_check_required


async def test_staff_roles_have_no_candidate_journey(w: World) -> None:
    staff = await w.staff(Role.STAFF_REVIEWER)
    with pytest.raises(Forbidden):
        await w.s.journey.require(staff, Step.ACCEPT_AGREEMENTS)


async def test_documents_can_be_replaced_by_the_operator() -> None:
    docs = Documents()
    assert docs.current(Kind.NOTICE).describe("en")["lang"] == "en"
    assert set(docs.current(Kind.NOTICE).describe()["body"]) == {"zh", "en"}
