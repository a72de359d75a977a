"""Staff invitations on a real SQLite file with a clock the test moves
(exams.admission.invitations): an invitation never applies by itself; the holder of the
phone accepts or declines it."""

from __future__ import annotations

import asyncio

import pytest

from exams.admission.invitations import TTL_S
from exams.catalog.attempts import new_attempt
from exams.catalog.catalog import ExamCatalog
from exams.catalog.exam_rules import Exam
from exams.identity.accounts import Account, Role
from exams.shared.errors import Conflict, Forbidden, Gone, NotFound, TooManyRequests
from exams.shared.ports import Event
from storage.accounts import SqliteAccounts
from storage.attempts import SqliteAttempts
from storage.exams import SqliteExams
from tests.support.world import PASSWORD, World

UNIT = "10001"
ONLINE = {"id": "q1", "title": "Piece", "order": 1, "mode": "online", "recording_limit_s": 180}


async def an_exam(w: World) -> tuple[Account, Exam]:
    await w.s.units.add(UNIT, "北京某大学")
    admin = await w.staff(Role.UNIT_ADMIN, UNIT)
    catalog = ExamCatalog(
        SqliteExams(w.db),
        SqliteAttempts(w.db),
        SqliteAccounts(w.db),
        w.s.audit,
        w.clock,
        limiter=w.s.limiter,
    )
    body = {
        "title": "钢琴演奏",
        "opens_at": w.clock() + 3600,
        "closes_at": w.clock() + 4 * 3600,
        "instructions": "Play.",
        "questions": [ONLINE],
    }
    return admin, await catalog.create(admin, body, "c")


async def invited_to_proctor(w: World, admin: Account, exam: Exam, phone: str) -> str:
    [listed, *_] = await w.s.invitations.invite_proctor(admin, exam.id, phone, "c")
    return str(listed["invitation_id"])


async def states(w: World, admin: Account, exam: Exam) -> list[str]:
    return [i["state"] for i in await w.s.invitations.of_exam(admin, exam.id, "c")]


async def test_logging_in_or_registering_applies_nothing(w: World) -> None:
    admin, exam = await an_exam(w)
    known = await w.register("李四")
    await invited_to_proctor(w, admin, exam, known.phone)
    await invited_to_proctor(w, admin, exam, "13900001111")
    logged_in, _ = await w.s.accounts.login(known.phone, PASSWORD, "c")
    assert logged_in.role is Role.CANDIDATE
    late = await w.register("周", phone="13900001111")
    assert late.role is Role.CANDIDATE
    assert (await w.s.accounts.get(known.id)).role is Role.CANDIDATE
    assert await states(w, admin, exam) == ["pending", "pending"]
    assert [e for e in await w.s.audit.recent() if e.event is Event.INVITATION_DECIDED] == []
    # The SMS says what to do: log in and accept.
    sms = w.s.outbox.latest(known.phone)
    assert sms is not None and "接受邀请" in sms.text


async def test_the_invited_person_sees_what_for_and_from_whom(w: World) -> None:
    admin, exam = await an_exam(w)
    person = await w.register("李四")
    other = await w.register("王五")
    invitation_id = await invited_to_proctor(w, admin, exam, person.phone)
    [offer] = await w.s.invitations.mine(person)
    assert offer["invitation_id"] == invitation_id
    assert (offer["role"], offer["unit_name"], offer["exam_title"]) == (
        "proctor",
        "北京某大学",
        "钢琴演奏",
    )
    assert (offer["inviter_role"], offer["inviter_unit_name"]) == ("unit_admin", "北京某大学")
    assert offer["expires_at"] == w.clock() + TTL_S
    assert "phone" not in offer and "invited_by" not in offer  # never who, only which unit
    assert await w.s.invitations.mine(other) == []


async def test_parallel_accepts_apply_once_and_end_every_session(w: World) -> None:
    admin, exam = await an_exam(w)
    person = await w.register("李四")
    _, token = await w.s.accounts.login(person.phone, PASSWORD, "c")
    _, other_token = await w.s.accounts.login(person.phone, PASSWORD, "d")
    invitation_id = await invited_to_proctor(w, admin, exam, person.phone)
    accept = w.s.invitations.accept
    done = await asyncio.gather(
        *(accept(person, invitation_id, "c") for _ in range(3)), return_exceptions=True
    )
    accepted = [d for d in done if isinstance(d, dict)]
    refused = [d for d in done if isinstance(d, Conflict)]
    assert len(accepted) == 1 and len(refused) == 2, done
    assert accepted[0] == {"role": "proctor", "unit_id": None, "exam_id": exam.id} | {
        "log_in_again": True
    }
    assert all(r.details["reason"] == "not_pending" for r in refused)
    assert (await w.s.accounts.get(person.id)).role is Role.PROCTOR
    assert [p[0] for p in await SqliteExams(w.db).proctors(exam.id)] == [person.id]
    assert await states(w, admin, exam) == ["applied"]
    for ended in (token, other_token):
        assert await w.s.accounts.account_for_token(ended) is None  # log in again, as staff
    decided = [e for e in await w.s.audit.recent() if e.event is Event.INVITATION_DECIDED]
    assert [(e.account_id, e.detail["state"], e.detail["revoked"]) for e in decided] == [
        (person.id, "applied", 2)
    ]
    # A proctor accepts one more exam without logging in again.
    w.clock.advance(1)  # the newest invitation is listed first
    second = await invited_to_proctor(w, admin, exam, person.phone)
    proctor = await w.s.accounts.get(person.id)
    more = await w.s.invitations.accept(proctor, second, "c")
    assert more["log_in_again"] is False


async def test_a_unit_admin_invitation_makes_a_unit_admin(w: World) -> None:
    operator = await w.staff(Role.OPERATOR)
    await w.s.units.add(UNIT, "北京某大学")
    person = await w.register("李四")
    [sent] = await w.s.invitations.invite_unit_admin(operator, UNIT, person.phone, "c")
    [offer] = await w.s.invitations.mine(person)
    assert (offer["role"], offer["exam_title"], offer["inviter_role"]) == (
        "unit_admin",
        None,
        "operator",
    )
    await w.s.invitations.accept(person, sent["invitation_id"], "c")
    now = await w.s.accounts.get(person.id)
    assert (now.role, now.unit_id) == (Role.UNIT_ADMIN, UNIT)


async def test_declining_changes_nothing_and_cannot_be_undone(w: World) -> None:
    admin, exam = await an_exam(w)
    person = await w.register("李四")
    invitation_id = await invited_to_proctor(w, admin, exam, person.phone)
    await w.s.invitations.decline(person, invitation_id, "c")
    assert await w.s.invitations.mine(person) == []
    assert await states(w, admin, exam) == ["declined"]
    with pytest.raises(Conflict):
        await w.s.invitations.accept(person, invitation_id, "c")
    with pytest.raises(Conflict):
        await w.s.invitations.decline(person, invitation_id, "c")
    assert (await w.s.accounts.get(person.id)).role is Role.CANDIDATE
    decided = [e for e in await w.s.audit.recent() if e.event is Event.INVITATION_DECIDED]
    assert [e.detail["state"] for e in decided] == ["declined"]


async def test_an_invitation_lapses_after_two_weeks(w: World) -> None:
    operator = await w.staff(Role.OPERATOR)
    await w.s.units.add(UNIT, "北京某大学")
    person = await w.register("周", phone="13900001111")
    [sent] = await w.s.invitations.invite_unit_admin(operator, UNIT, person.phone, "c")
    w.clock.advance(TTL_S)
    assert await w.s.invitations.mine(person) == []
    with pytest.raises(Gone) as late:
        await w.s.invitations.accept(person, sent["invitation_id"], "c")
    assert late.value.details["reason"] == "expired"
    assert (await w.s.accounts.get(person.id)).role is Role.CANDIDATE
    [listed] = await w.s.invitations.of_unit(operator, UNIT)
    assert listed["state"] == "expired"


async def test_a_candidate_who_started_an_answer_stays_a_candidate(w: World) -> None:
    admin, exam = await an_exam(w)
    person = await w.register("李四")
    invitation_id = await invited_to_proctor(w, admin, exam, person.phone)
    await SqliteAttempts(w.db).save(new_attempt("a1", exam, "q1", person.id), w.clock())
    with pytest.raises(Conflict) as refused:
        await w.s.invitations.accept(person, invitation_id, "c")
    assert refused.value.details["reason"] == "answers_started"
    assert "candida" in refused.value.message
    assert (await w.s.accounts.get(person.id)).role is Role.CANDIDATE
    assert await states(w, admin, exam) == ["pending"]  # the inviter learns nothing
    assert len(await w.s.invitations.mine(person)) == 1  # they may still decline it


async def test_other_staff_cannot_accept(w: World) -> None:
    operator = await w.staff(Role.OPERATOR)
    for unit in (UNIT, "10002"):
        await w.s.units.add(unit, f"Unit {unit}")
    admin = await w.staff(Role.UNIT_ADMIN, "10002")
    reviewer = await w.staff(Role.STAFF_REVIEWER)
    for who in (admin, reviewer):
        w.clock.advance(1)  # the newest invitation is listed first
        [sent, *_] = await w.s.invitations.invite_unit_admin(operator, UNIT, who.phone, "c")
        with pytest.raises(Conflict) as refused:
            await w.s.invitations.accept(who, sent["invitation_id"], "c")
        assert refused.value.details == {"reason": "other_staff", "role": who.role.value}
        same = await w.s.accounts.get(who.id)
        assert (same.role, same.unit_id) == (who.role, who.unit_id)
    assert [i["state"] for i in await w.s.invitations.of_unit(operator, UNIT)] == [
        "pending",
        "pending",
    ]


async def test_another_phones_account_cannot_accept_or_decline(w: World) -> None:
    admin, exam = await an_exam(w)
    person = await w.register("李四")
    intruder = await w.register("王五")
    invitation_id = await invited_to_proctor(w, admin, exam, person.phone)
    for act in (w.s.invitations.accept, w.s.invitations.decline):
        with pytest.raises(NotFound):
            await act(intruder, invitation_id, "c")
        with pytest.raises(NotFound):
            await act(admin, invitation_id, "c")
    with pytest.raises(NotFound):
        await w.s.invitations.accept(person, "nope", "c")
    assert (await w.s.accounts.get(intruder.id)).role is Role.CANDIDATE
    assert await states(w, admin, exam) == ["pending"]


async def test_only_operators_invite_unit_admins_and_invitations_are_bounded(w: World) -> None:
    await w.s.units.add(UNIT, "Unit")
    admin = await w.staff(Role.UNIT_ADMIN, UNIT)
    with pytest.raises(Forbidden):
        await w.s.invitations.invite_unit_admin(admin, UNIT, "13900001111", "c")
    operator = await w.staff(Role.OPERATOR)
    for n in range(30):
        await w.s.invitations.invite_unit_admin(operator, UNIT, f"139{n:08d}", "c")
    with pytest.raises(TooManyRequests):
        await w.s.invitations.invite_unit_admin(operator, UNIT, "13900009999", "c")
    w.clock.advance(3600)
    await w.s.invitations.invite_unit_admin(operator, UNIT, "13900009999", "c")
