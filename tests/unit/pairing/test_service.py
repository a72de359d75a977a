"""Second-camera pairing on a fake clock: the token rules and the link's states."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from exams.catalog.takes import Take, TakeState
from exams.identity.accounts import Account, Role
from exams.shared.errors import Conflict, DeadlinePassed, NotFound
from exams.shared.ports import Entry, Event
from pairing.service import PairingService
from pairing.store import MemoryPairingStore
from pairing.tokens import PairingExpired, PairingNotYours, PairingUsed
from tests.unit.exams.builders import FakeClock


def person(account_id: str) -> Account:
    return Account(account_id, "13800138000", "张三", "resident_id", "x", Role.CANDIDATE, 0.0)


@dataclass
class Attempt:
    id: str
    exam_id: str = "e1"
    question_id: str = "q1"


@dataclass
class Gate:
    """The exam side: one live attempt per candidate; ``closed`` ones refuse."""

    closed: set[str] = field(default_factory=set)

    async def second_camera_attempt(self, account: Any, exam_id: str, qid: str) -> Attempt:
        return Attempt(f"attempt-{account.id}", exam_id, qid)

    async def check_attempt_live(self, attempt_id: str) -> None:
        if attempt_id in self.closed:
            raise DeadlinePassed("the submission time for this question is over")


class Audit:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    async def record(self, entry: Entry) -> None:
        self.entries.append(entry)

    async def recent(self, limit: int = 100, account_id: str | None = None) -> list[Entry]:
        return self.entries[-limit:]


class Notifier:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def secondary_state(self, owner: str, event: dict[str, Any]) -> None:
        self.events.append((owner, event))

    @property
    def states(self) -> list[str]:
        return [e["state"] for _, e in self.events]


class Media:
    def __init__(self) -> None:
        self.up: set[str] = set()
        self.closed: list[tuple[str, str]] = []
        self.gone: set[str] = set()  # sessions not open on this node (it died elsewhere)

    def healthy(self, session_id: str) -> bool:
        return session_id in self.up

    def get(self, session_id: str) -> object | None:
        return None if session_id in self.gone else session_id

    async def close(self, session_id: str, owner: str | None = None, reason: str = "") -> None:
        self.closed.append((session_id, reason))


class Cameras:
    def __init__(self) -> None:
        self.added: list[tuple[str, str, str]] = []

    async def add_camera(self, take_id: str, camera: str, session_id: str) -> None:
        self.added.append((take_id, camera, session_id))


@dataclass
class World:
    clock: FakeClock
    store: MemoryPairingStore = field(default_factory=MemoryPairingStore)
    gate: Gate = field(default_factory=Gate)
    audit: Audit = field(default_factory=Audit)
    notifier: Notifier = field(default_factory=Notifier)
    media: Media = field(default_factory=Media)
    cameras: Cameras = field(default_factory=Cameras)
    service: PairingService = field(init=False)

    def __post_init__(self) -> None:
        self.service = PairingService(
            self.store,
            self.gate,
            self.audit,
            self.clock,
            self.notifier,
            self.media,
            self.cameras,
            ttl_s=120,
        )


@pytest.fixture
def w() -> World:
    return World(FakeClock())


def take(take_id: str, attempt_id: str = "attempt-alice") -> Take:
    return Take(take_id, "alice", "p", "formal", TakeState.RECORDING, 0.0, attempt_id=attempt_id)


async def paired_phone(w: World, session_id: str = "s1") -> str:
    token, _, _ = await w.service.issue(person("alice"), "e1", "q1")
    pairing = await w.service.redeem(person("alice"), token, "10.0.0.2")
    w.service.check_open("alice", pairing.id)
    await w.service.session_opened(pairing.id, session_id)
    w.media.up.add(session_id)
    await w.service.media_changed(session_id)
    return pairing.id


# -- tokens ---------------------------------------------------------------------------------


async def test_a_token_is_bound_to_the_attempt_and_kept_only_hashed(w: World) -> None:
    token, pairing, now = await w.service.issue(person("alice"), "e1", "q1")
    assert (pairing.owner, pairing.attempt_id, pairing.expires_at) == (
        "alice",
        "attempt-alice",
        now + 120,
    )
    assert len(token) >= 32 and token not in repr(await w.store.get(pairing.id))
    assert token not in w.store.hashes()
    redeemed = await w.service.redeem(person("alice"), token, None)
    assert redeemed.redeemed_at == now and redeemed.attempt_id == "attempt-alice"
    assert [e.event for e in w.audit.entries] == [Event.PAIRING_REDEEMED]
    assert all(token not in str(e.detail) for e in w.audit.entries)


async def test_a_token_works_once(w: World) -> None:
    token, _, _ = await w.service.issue(person("alice"), "e1", "q1")
    await w.service.redeem(person("alice"), token, None)
    with pytest.raises(PairingUsed):
        await w.service.redeem(person("alice"), token, None)
    assert w.audit.entries[-1].event is Event.PAIRING_REFUSED
    assert w.audit.entries[-1].detail == {"code": "pairing_used"}


async def test_a_token_expires(w: World) -> None:
    token, _, _ = await w.service.issue(person("alice"), "e1", "q1")
    w.clock.advance(119.9)
    other, _, _ = await w.service.issue(person("alice"), "e1", "q1")
    await w.service.redeem(person("alice"), other, None)  # in time
    w.clock.advance(0.1)
    with pytest.raises(PairingExpired):
        await w.service.redeem(person("alice"), token, None)


async def test_another_candidates_token_is_refused_audited_and_not_used_up(w: World) -> None:
    token, _, _ = await w.service.issue(person("alice"), "e1", "q1")
    with pytest.raises(PairingNotYours):
        await w.service.redeem(person("mallory"), token, "10.0.0.9")
    denied = w.audit.entries[-1]
    assert (denied.event, denied.account_id, denied.client) == (
        Event.ACCESS_DENIED,
        "mallory",
        "10.0.0.9",
    )
    assert denied.detail == {"what": "pairing_redeem", "attempt_id": "attempt-alice"}
    await w.service.redeem(person("alice"), token, None)


async def test_a_token_of_an_answer_that_is_over_is_refused(w: World) -> None:
    token, _, _ = await w.service.issue(person("alice"), "e1", "q1")
    w.gate.closed.add("attempt-alice")
    with pytest.raises(DeadlinePassed):
        await w.service.redeem(person("alice"), token, None)
    w.gate.closed.clear()
    await w.service.redeem(person("alice"), token, None)  # the refusal did not use it


async def test_an_unknown_token_is_not_found(w: World) -> None:
    with pytest.raises(NotFound):
        await w.service.redeem(person("alice"), "not-a-token", None)


async def test_expired_records_are_purged_after_a_while(w: World) -> None:
    _, pairing, _ = await w.service.issue(person("alice"), "e1", "q1")
    w.clock.advance(120 + 3600)
    await w.service.issue(person("alice"), "e1", "q1")
    assert await w.store.get(pairing.id) is None


# -- the phone's session and the link's states ----------------------------------------------


async def test_one_session_per_scan_and_only_for_its_owner(w: World) -> None:
    token, _, _ = await w.service.issue(person("alice"), "e1", "q1")
    pairing = await w.service.redeem(person("alice"), token, None)
    with pytest.raises(NotFound):
        w.service.check_open("mallory", pairing.id)
    w.service.check_open("alice", pairing.id)
    await w.service.session_opened(pairing.id, "s1")
    with pytest.raises(Conflict):
        w.service.check_open("alice", pairing.id)


async def test_ready_needs_media_and_makes_the_formal_take_possible(w: World) -> None:
    token, _, _ = await w.service.issue(person("alice"), "e1", "q1")
    pairing = await w.service.redeem(person("alice"), token, None)
    await w.service.session_opened(pairing.id, "s1")
    with pytest.raises(Conflict, match="Ready"):
        await w.service.ready("alice", "s1")
    assert not w.service.ready_for("attempt-alice")
    w.media.up.add("s1")
    with pytest.raises(NotFound):
        await w.service.ready("mallory", "s1")
    event = await w.service.ready("alice", "s1")
    assert event["state"] == "ready" and w.service.ready_for("attempt-alice")
    assert w.notifier.states == ["paired", "ready"]
    w.media.up.clear()  # the phone's media stops: no longer ready
    assert not w.service.ready_for("attempt-alice")


async def test_a_take_records_the_ready_phone_and_ready_is_needed_again_after(w: World) -> None:
    await paired_phone(w)
    assert w.service.extra_cameras(take("t0")) == {}  # connected, not ready
    await w.service.ready("alice", "s1")
    assert w.service.extra_cameras(take("t1")) == {"secondary": "s1"}
    assert w.service.extra_cameras(take("t9", attempt_id="other")) == {}
    await w.service.on_take_event("take_started", take("t1"))
    await w.service.on_take_event("take_stopped", take("t1"))
    assert w.notifier.states == ["paired", "connected", "ready", "recording", "connected"]
    _, last = w.notifier.events[-1]
    assert (last["reason"], last["warning"], last["take_id"]) == ("take_stopped", False, None)
    assert not w.service.ready_for("attempt-alice")


async def test_losing_the_phone_while_recording_warns_and_it_comes_back(w: World) -> None:
    await paired_phone(w)
    await w.service.ready("alice", "s1")
    w.service.extra_cameras(take("t1"))
    await w.service.on_take_event("take_started", take("t1"))
    w.media.up.clear()
    await w.service.media_changed("s1")
    _, lost = w.notifier.events[-1]
    assert (lost["state"], lost["warning"], lost["take_id"]) == ("lost", True, "t1")
    w.media.up.add("s1")  # the same session reconnected: its recorder continues
    await w.service.media_changed("s1")
    _, back = w.notifier.events[-1]
    assert (back["state"], back["warning"]) == ("recording", False)


async def test_a_new_scan_during_a_take_rejoins_it_when_ready(w: World) -> None:
    await paired_phone(w, "s1")
    await w.service.ready("alice", "s1")
    w.service.extra_cameras(take("t1"))
    await w.service.on_take_event("take_started", take("t1"))
    await paired_phone(w, "s2")  # a re-scan replaces the old session
    assert w.media.closed == [("s1", "replaced")]
    await w.service.session_closed("s1", "replaced")  # the hub reports it: nothing changes
    _, connected = w.notifier.events[-1]
    assert (connected["state"], connected["warning"]) == ("connected", True)
    event = await w.service.ready("alice", "s2")
    assert event["state"] == "recording" and event["take_id"] == "t1"
    assert w.cameras.added == [("t1", "secondary", "s2")]


async def test_a_first_scan_during_a_take_joins_it_when_ready(w: World) -> None:
    # The take started with the first camera only (no phone yet: no link either).
    await w.service.on_take_event("take_started", take("t1"))
    await w.service.on_take_event("take_started", take("t9", attempt_id="other"))
    await paired_phone(w, "s1")
    _, connected = w.notifier.events[-1]
    assert (connected["state"], connected["warning"], connected["take_id"]) == (
        "connected",
        True,
        "t1",
    )
    event = await w.service.ready("alice", "s1")
    assert (event["state"], event["take_id"], event["warning"]) == ("recording", "t1", False)
    assert w.cameras.added == [("t1", "secondary", "s1")]
    await w.service.on_take_event("take_stopped", take("t1"))
    _, after = w.notifier.events[-1]
    assert (after["state"], after["take_id"]) == ("connected", None)
    # The next take needs Ready again; a take that stopped is not joined.
    w.cameras.added.clear()
    assert (await w.service.ready("alice", "s1"))["state"] == "ready"
    assert w.cameras.added == []


async def test_a_first_scan_of_a_stopped_take_is_not_told_of_it(w: World) -> None:
    await w.service.on_take_event("take_started", take("t1"))
    await w.service.on_take_event("take_stopped", take("t1"))
    await paired_phone(w, "s1")
    event = await w.service.ready("alice", "s1")
    assert (event["state"], event["take_id"], event["warning"]) == ("ready", None, False)
    assert w.cameras.added == []


async def test_ready_as_a_take_starts_joins_it(w: World) -> None:
    """Ready lands after the starting take asked for its cameras, before it told its
    listeners: the take records the phone all the same."""
    await paired_phone(w, "s1")
    assert w.service.extra_cameras(take("t1")) == {}  # connected, not ready yet
    assert (await w.service.ready("alice", "s1"))["state"] == "ready"
    await w.service.on_take_event("take_started", take("t1"))
    assert w.cameras.added == [("t1", "secondary", "s1")]
    _, recording = w.notifier.events[-1]
    assert (recording["state"], recording["take_id"], recording["warning"]) == (
        "recording",
        "t1",
        False,
    )


async def test_the_phone_closing_its_camera_while_recording_warns(w: World) -> None:
    pairing_id = await paired_phone(w)
    await w.service.ready("alice", "s1")
    w.service.extra_cameras(take("t1"))
    await w.service.on_take_event("take_started", take("t1"))
    await w.service.session_closed("s1", "session_closed")
    _, stopped = w.notifier.events[-1]
    assert (stopped["state"], stopped["warning"], stopped["take_id"]) == ("stopped", True, "t1")
    with pytest.raises(NotFound):
        w.service.check_open("alice", "unknown")
    with pytest.raises(Conflict):  # a new scan is needed
        w.service.check_open("alice", pairing_id)
    state = await w.service.state("alice", "e1", "q1")
    assert state["state"] == "stopped"
    assert (await w.service.state("alice", "e1", "q2"))["state"] == "unpaired"


async def test_links_without_a_phone_or_a_take_are_forgotten_after_an_hour(w: World) -> None:
    await paired_phone(w)
    await w.service.session_closed("s1", "connection_lost")
    w.clock.advance(3599)
    assert w.service.forget_idle() == 0
    w.clock.advance(2)
    assert w.service.forget_idle() == 1
    assert (await w.service.state("alice", "e1", "q1"))["state"] == "unpaired"


async def test_a_phone_whose_node_died_opens_again_and_follows_its_take(w: World) -> None:
    pairing_id = await paired_phone(w, "s1")
    await w.service.ready("alice", "s1")
    w.service.extra_cameras(take("t1"))
    await w.service.on_take_event("take_started", take("t1"))
    with pytest.raises(Conflict):  # its session is open here: one session per scan
        w.service.check_open("alice", pairing_id)
    w.media.gone.add("s1")  # its node died; the phone reached this one
    w.service.check_open("alice", pairing_id)
    await w.service.session_opened(pairing_id, "s2")
    assert w.cameras.added == [("t1", "secondary", "s2")]  # the take records here: it joins
    # The take continued here before (or after) the phone came: the phone is among its cameras.
    assert w.service.extra_cameras(take("t1")) == {"secondary": "s2"}
    assert w.service.extra_cameras(take("t2")) == {}  # another take: Ready and media first
    w.media.gone.add("s2")
    assert w.service.extra_cameras(take("t1")) == {}
