"""The second camera's service: QR codes, scans, and the phone's part in each take.

- :meth:`PairingService.issue` makes a QR code's token for a question that needs
  a second camera (需二机位), while its answer is live.
- :meth:`redeem` is the phone's scan: the token rules (:mod:`pairing.tokens`), then
  the attempt must still be live; the attempt's link starts over (:mod:`pairing.links`).
- The phone opens a ``secondary`` media session with the pairing (:meth:`open_session`,
  once per scan), sends its media, taps Ready (:meth:`ready`).
- The exam side asks :meth:`ready_for` (may a formal take start?) and
  :meth:`extra_cameras` (which sessions a starting take records besides the primary);
  take events keep the link's take current, and Ready made during a take joins it.
- Health: the phone's media must keep arriving (:class:`MediaHealth`), checked on every
  peer-connection change and every :data:`CHECK_EVERY_S`; a change is sent to the
  candidate's devices as ``secondary_state`` at once.

Links are kept here (read by the exam and media sides without waiting) and written
through to a :class:`~pairing.store.LinkStore`, in order, so another node finds the link
a scan made here: the phone's camera (routed by candidate) and the state endpoint read it
from the store when they do not have it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from exams.shared.errors import Conflict, ExamcastError, InvalidInput, NotFound
from exams.shared.ports import AuditLog, Entry, Event
from pairing import links
from pairing.links import Link, SecondaryState
from pairing.store import LinkStore, MemoryLinkStore, PairingStore
from pairing.tokens import (
    DEFAULT_TTL_S,
    Pairing,
    PairingNotYours,
    check_redeemable,
    hash_token,
    new_pairing,
)

if TYPE_CHECKING:
    from exams.catalog.takes import Take
    from exams.identity.accounts import Account
    from exams.shared.ports import Clock

log = logging.getLogger(__name__)

CAMERA = "secondary"
# the take no longer records here: stopped, or continued by another node (takes.MOVED)
ENDED = ("take_stopped", "take_moved")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


_Session = TypeVar("_Session", bound=_HasId)


def check_may_start_take(session_role: str | None) -> None:
    """The second camera records with the first one: a take starts on the first device."""
    if session_role is not None and session_role != "primary":
        raise Conflict("the second camera records with the first one; start on that device")


CHECK_EVERY_S = 0.5
CLOSE_WAIT_S = 10.0  # a check under way as the server stops: its store's answer, or timeout
LINK_IDLE_S = 3600.0  # a link with no phone and no take is forgotten after this long


class AttemptLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def exam_id(self) -> str: ...

    @property
    def question_id(self) -> str: ...


class AttemptGate(Protocol):
    """What the exam side answers (``exams.answering.answering.Answering`` implements it)."""

    async def second_camera_attempt(
        self, account: Account, exam_id: str, question_id: str
    ) -> AttemptLike:
        """The live attempt of a question that needs a second camera, or raise why not."""
        ...

    async def check_attempt_live(self, attempt_id: str) -> None:
        """Raise unless the attempt can still be recorded (not submitted or closed)."""
        ...


class MediaHealth(Protocol):
    def healthy(self, session_id: str) -> bool:
        """The session's peer is connected and its media arrived recently."""
        ...

    async def close(self, session_id: str, owner: str | None = None, reason: str = ...) -> Any: ...

    def get(self, session_id: str) -> object | None:
        """The session if it is open on this node."""
        ...


class CameraJoin(Protocol):
    async def add_camera(self, take_id: str, camera: str, session_id: str) -> None: ...


class LinkNotifier(Protocol):
    async def secondary_state(self, owner: str, event: dict[str, Any]) -> None: ...


LinkListener = Callable[[str, str], Awaitable[None]]  # (owner, attempt id)


class PairingService:
    def __init__(
        self,
        store: PairingStore,
        attempts: AttemptGate,
        audit: AuditLog,
        clock: Clock,
        notifier: LinkNotifier,
        media: MediaHealth,
        cameras: CameraJoin,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        link_store: LinkStore | None = None,
    ) -> None:
        self._store = store
        self._link_store = link_store if link_store is not None else MemoryLinkStore()
        self._writing: asyncio.Future[None] | None = None  # the last write to the link store
        self._attempts = attempts
        self._audit = audit
        self._clock = clock
        self._notifier = notifier
        self.ttl_s = ttl_s
        self.media = media
        self.cameras = cameras
        self._links: dict[str, Link] = {}  # attempt id -> its link
        self._shown: dict[str, tuple[SecondaryState, bool, str | None]] = {}
        self._checker: asyncio.Task[None] | None = None
        self._listeners: list[LinkListener] = []  # hear every change the pages are told
        # attempt id -> its take recording on this node (from the take events), also before
        # the attempt has a link: a phone paired first during a take joins it when Ready
        self._recording: dict[str, str] = {}
        self._joining: set[str] = set()  # attempts whose phone is joining their take now

    def add_listener(self, listener: LinkListener) -> None:
        """``listener(owner, attempt_id)`` after each ``secondary_state`` (the proctors' wall)."""
        self._listeners.append(listener)

    def link_state(self, attempt_id: str) -> str | None:
        """The answer's second camera as its candidate sees it; ``None``: none paired."""
        link = self._links.get(attempt_id)
        return None if link is None else link.state.value

    # -- QR codes and scans ----------------------------------------------------------------

    async def issue(
        self, account: Account, exam_id: str, question_id: str
    ) -> tuple[str, Pairing, float]:
        """A new single-use token for this question's live attempt; (token, pairing, now)."""
        attempt = await self._attempts.second_camera_attempt(account, exam_id, question_id)
        now = self._clock()
        token, pairing = new_pairing(
            account.owner, attempt.exam_id, attempt.question_id, attempt.id, now, self.ttl_s
        )
        await self._store.add(pairing)
        await self._store.purge(now)
        return token, pairing, now

    async def redeem(self, account: Account, token: str, client: str | None) -> Pairing:
        """The phone scanned ``token``: it becomes this attempt's second camera."""
        now = self._clock()
        found = await self._store.by_token_hash(hash_token(token))
        try:
            pairing = check_redeemable(found, account.owner, now)
            await self._attempts.check_attempt_live(pairing.attempt_id)
            if not await self._store.mark_redeemed(pairing):
                pairing = check_redeemable(await self._store.get(pairing.id), account.owner, now)
        except PairingNotYours:
            assert found is not None
            await self._audit_event(
                Event.ACCESS_DENIED,
                account,
                client,
                {"what": "pairing_redeem", "attempt_id": found.attempt_id},
            )
            raise
        except ExamcastError as exc:  # unknown, expired, used, or the attempt is over
            await self._audit_event(Event.PAIRING_REFUSED, account, client, {"code": exc.code})
            raise
        await self._audit_event(
            Event.PAIRING_REDEEMED, account, client, {"attempt_id": pairing.attempt_id}
        )
        previous = self._links.get(pairing.attempt_id) or await self._link_store.get(
            pairing.attempt_id
        )
        link = links.paired(
            previous,
            Link(
                attempt_id=pairing.attempt_id,
                owner=pairing.owner,
                exam_id=pairing.exam_id,
                question_id=pairing.question_id,
                pairing_id=pairing.id,
                changed_at=now,
                take_id=self._recording.get(pairing.attempt_id),
                reason="paired",
            ),
        )
        await self._save(link)
        if previous is not None and previous.session_id is not None:
            # The phone starts over: its old session (if still open) makes way.
            await self.media.close(previous.session_id, reason="replaced")
        await self._publish(link, force=True)
        return pairing

    async def state(self, owner: str, exam_id: str, question_id: str) -> dict[str, Any]:
        """The second camera of this question's attempt, for either device."""
        now = self._clock()
        await self._flush()  # this node's own changes first
        # The store first: a scan through another node made a link this one has not seen.
        link = await self._link_store.find(owner, exam_id, question_id) or next(
            (
                x
                for x in self._links.values()
                if x.owner == owner and x.exam_id == exam_id and x.question_id == question_id
            ),
            None,
        )
        if link is None:
            return {
                "exam_id": exam_id,
                "question_id": question_id,
                "state": "unpaired",
                "warning": False,
                "now": now,
            }
        return link.event(now)

    # -- the phone's media session ---------------------------------------------------------

    async def open_link(self, owner: str, pairing_id: str) -> Link:
        """:meth:`check_open`, and the candidate still reaches the exam (the admitted list,
        the answer not submitted or closed): a phone that scanned before a re-import left
        the candidate out does not join after it. Looked up again after the ``await``, so
        the caller's synchronous open-and-bind cannot race another scan."""
        if self._by_pairing(pairing_id) is None:  # scanned through another node
            found = await self._link_store.by_pairing(pairing_id)
            if found is not None and self._by_pairing(pairing_id) is None:
                self._links[found.attempt_id] = found
        link = self.check_open(owner, pairing_id)
        await self._attempts.check_attempt_live(link.attempt_id)
        return self.check_open(owner, pairing_id)

    def check_open(self, owner: str, pairing_id: str) -> Link:
        """The link a new ``secondary`` session joins; one session per scan."""
        link = self._by_pairing(pairing_id)
        if link is None or link.owner != owner:
            raise NotFound("no such pairing of yours; scan the QR code on your first device")
        # A session of the scan that is not open here is gone (its node died, and the phone
        # came here: sockets are routed by candidate): the phone opens a new one.
        opened = link.session_id is not None and self.media.get(link.session_id) is not None
        if opened or link.stopped:
            raise Conflict(
                "this QR code's camera was opened already; scan a new code to join again"
            )
        return link

    async def open_session(
        self,
        owner: str,
        role: str,
        pairing_id: str | None,
        resume: str | None,
        open_media: Callable[[str | None], _Session],
    ) -> _Session:
        """The pairing rules of opening a media session: a new ``secondary`` joins by its
        scan's ``pairing_id`` (one session per scan, bound to the scan's attempt), and only
        it carries one. ``open_media(attempt_id)`` opens the session synchronously, so
        nothing runs between the last check and the binding."""
        if role == "secondary" and resume is None:
            if pairing_id is None:
                raise InvalidInput(
                    "open_session: a second camera needs its pairing_id: scan the QR code first"
                )
            link = await self.open_link(owner, pairing_id)
            session = open_media(link.attempt_id)
            await self.session_opened(pairing_id, session.id)
            return session
        if pairing_id is not None and resume is None:
            raise InvalidInput("open_session: pairing_id is for the secondary role only")
        return open_media(None)

    async def session_opened(self, pairing_id: str, session_id: str) -> None:
        link = self._by_pairing(pairing_id)
        if link is None:
            return
        link = links.bound(link, session_id, self._clock())
        await self._save(link)
        if link.take_id is not None and link.in_take:
            # The phone was recording in the take, from a session now gone: its new one
            # continues it, if the take records here (else it joins when the take does).
            try:
                await self.cameras.add_camera(link.take_id, CAMERA, session_id)
            except ExamcastError as exc:
                log.info("attempt %s: camera waits for its take: %s", link.attempt_id, exc)

    async def ready(self, owner: str, session_id: str) -> dict[str, Any]:
        """The phone tapped Ready (就绪); during a take it joins that take at once."""
        link = self._by_session(session_id)
        if link is None or link.owner != owner:
            raise NotFound("no such second-camera session of yours; scan the QR code again")
        now = self._clock()
        link = links.health(link, self._healthy(session_id), now, "checked")
        if not link.healthy:
            await self._save(link)
            raise Conflict(
                "the server does not receive this phone's camera yet; allow the camera, "
                "wait until it is connected, then tap Ready (就绪)"
            )
        link = links.made_ready(link, now)
        await self._save(link)
        link = self._links.get(link.attempt_id, link)
        # The take recording now: the link's, or one that started before the first scan.
        take_id = link.take_id or self._recording.get(link.attempt_id)
        if take_id is not None and not link.in_take and link.attempt_id not in self._joining:
            link = await self._join(link, take_id)
        await self._save(link)
        await self._publish(link)
        return link.event(now)

    async def media_changed(self, session_id: str) -> None:
        """The session's peer connection changed state: look at its health now."""
        link = self._by_session(session_id)
        if link is not None:
            await self._check(link, "media")

    async def session_closed(self, session_id: str, reason: str) -> None:
        """The phone closed its camera (``session_closed``) or was gone for good."""
        link = self._by_session(session_id)
        if link is None or reason in ("replaced", "server_shutdown"):
            return
        link = links.closed(link, reason, self._clock())
        await self._save(link)
        await self._publish(link)

    # -- the exam side ---------------------------------------------------------------------

    def ready_for(self, attempt_id: str) -> bool:
        """May a formal take of this attempt start (the second camera tapped Ready)?"""
        link = self._links.get(attempt_id)
        if link is None or link.session_id is None:
            return False
        return link.ready and not link.stopped and self._healthy(link.session_id)

    def extra_cameras(self, take: Take) -> Mapping[str, str]:
        """The sessions a starting take records besides the primary one (and a take continued
        here after its node died: the phone that recorded in it, once it is here too)."""
        link = None if take.attempt_id is None else self._links.get(take.attempt_id)
        if (
            link is not None
            and link.take_id == take.id
            and link.in_take
            and link.session_id is not None
            and self.media.get(link.session_id) is not None
        ):
            return {CAMERA: link.session_id}
        if take.attempt_id is None or not self.ready_for(take.attempt_id):
            return {}
        link = self._links[take.attempt_id]
        assert link.session_id is not None
        self._keep(links.joined(link, take.id, self._clock()))
        return {CAMERA: link.session_id}

    async def on_take_event(self, event: str, take: Take) -> None:
        """``exams.catalog.takes`` listener: the attempt's take started or stopped. A phone
        that tapped Ready after the take asked for its cameras joins it now."""
        if take.attempt_id is None:
            return
        if event == "take_started":
            self._recording[take.attempt_id] = take.id
        elif event in ENDED and self._recording.get(take.attempt_id) == take.id:
            del self._recording[take.attempt_id]
        link = self._links.get(take.attempt_id)
        if link is None:
            return
        now = self._clock()
        if event == "take_started":
            link = links.take_started(link, take.id, link.in_take and link.take_id == take.id, now)
        elif event == "take_stopped":
            link = links.take_ended(link, take.id, now)
        else:
            return
        await self._save(link)
        link = self._links.get(take.attempt_id, link)
        if (
            event == "take_started"
            and not link.in_take
            and link.attempt_id not in self._joining
            and self.ready_for(link.attempt_id)
        ):
            link = await self._join(link, take.id)
            await self._save(link)
        await self._publish(link)

    async def _join(self, link: Link, take_id: str) -> Link:
        """The ready phone of ``link`` joins the attempt's recording take (``add_camera``);
        the link as it is after (take events may have come in meanwhile)."""
        session_id = link.session_id
        assert session_id is not None
        self._joining.add(link.attempt_id)
        try:
            await self.cameras.add_camera(take_id, CAMERA, session_id)
        except ExamcastError as exc:  # the take stopped meanwhile: ready for the next
            log.info("attempt %s: could not join take %s: %s", link.attempt_id, take_id, exc)
            return self._links.get(link.attempt_id, link)
        finally:
            self._joining.discard(link.attempt_id)
        link = self._links.get(link.attempt_id, link)
        still = link.take_id == take_id or self._recording.get(link.attempt_id) == take_id
        if still and link.session_id == session_id:
            link = links.joined(link, take_id, self._clock())
        return link

    async def answer_over(self, attempt_id: str, reason: str) -> None:
        """The answer was submitted or closed: tell both devices (``state: done``), close
        the phone's camera session and forget the pairing."""
        link = self._links.pop(attempt_id, None) or await self._link_store.get(attempt_id)
        self._shown.pop(attempt_id, None)
        if link is None:
            return
        self._write(lambda: self._link_store.delete(attempt_id))
        await self._flush()
        event = {**link.event(self._clock()), "state": "done", "reason": reason, "warning": False}
        try:
            await self._notifier.secondary_state(link.owner, event)
        except Exception:
            log.exception("second camera of attempt %s: could not notify", attempt_id)
        await self._tell_listeners(link.owner, attempt_id)
        if link.session_id is not None:
            await self.media.close(link.session_id, reason="answer_over")

    # -- health ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._checker is None or self._checker.done():
            self._checker = asyncio.ensure_future(self._check_forever())

    async def close(self) -> None:
        checker, self._checker = self._checker, None
        if checker is not None:
            checker.cancel()
            # Bounded, and the loop sees it is closed (``self._checker``): Python 3.11's
            # asyncio.wait_for (inside the store clients' writes) drops a cancellation that
            # arrives as its write completes, and the checks would go on for ever.
            _, running = await asyncio.wait({checker}, timeout=CLOSE_WAIT_S)
            if running:
                log.error("the second cameras' check did not stop; left behind")
        await self._flush()

    async def _check_forever(self) -> None:
        me = asyncio.current_task()
        while self._checker is me:
            await asyncio.sleep(CHECK_EVERY_S)
            self.forget_idle()
            for link in list(self._links.values()):
                if self._checker is not me:
                    return
                try:
                    await self._check(link, "media")
                except Exception:
                    log.exception("second camera of attempt %s: check failed", link.attempt_id)

    def forget_idle(self) -> int:
        """Drop links that have had no phone and no take for :data:`LINK_IDLE_S`."""
        now = self._clock()
        idle = [
            x
            for x in self._links.values()
            if x.session_id is None and x.take_id is None and now - x.changed_at > LINK_IDLE_S
        ]
        for link in idle:
            del self._links[link.attempt_id]
            self._shown.pop(link.attempt_id, None)
            self._write(functools.partial(self._link_store.delete, link.attempt_id))
        return len(idle)

    async def _check(self, link: Link, reason: str) -> None:
        if link.session_id is None:
            return
        healthy = self._healthy(link.session_id)
        changed = links.health(link, healthy, self._clock(), reason if healthy else "media_lost")
        if changed is not link:
            await self._save(changed)
            await self._publish(changed)

    def _healthy(self, session_id: str) -> bool:
        return self.media.healthy(session_id)

    # -- helpers ---------------------------------------------------------------------------

    def _keep(self, link: Link) -> None:
        """The link as it is now: here at once, in the link store after the writes before."""
        self._links[link.attempt_id] = link
        self._write(lambda: self._link_store.put(link))

    async def _save(self, link: Link) -> None:
        """:meth:`_keep`, and wait until the store has it (another node may read it next)."""
        self._keep(link)
        await self._flush()

    def _write(self, write: Callable[[], Awaitable[None]]) -> None:
        before = self._writing

        async def run() -> None:
            if before is not None:
                await asyncio.wait([before])
            try:
                await write()
            except Exception:
                log.exception("second camera: the link store could not be written")

        self._writing = asyncio.ensure_future(run())

    async def _flush(self) -> None:
        if self._writing is not None:
            await asyncio.wait([self._writing])

    async def _publish(self, link: Link, *, force: bool = False) -> None:
        shown = link.shown()
        if not force and self._shown.get(link.attempt_id) == shown:
            return
        self._shown[link.attempt_id] = shown
        try:
            await self._notifier.secondary_state(link.owner, link.event(self._clock()))
        except Exception:
            log.exception("second camera of attempt %s: could not notify", link.attempt_id)
        await self._tell_listeners(link.owner, link.attempt_id)

    async def _tell_listeners(self, owner: str, attempt_id: str) -> None:
        for listener in self._listeners:
            try:
                await listener(owner, attempt_id)
            except Exception:
                log.exception("second camera of attempt %s: a listener failed", attempt_id)

    def _by_pairing(self, pairing_id: str) -> Link | None:
        return next((x for x in self._links.values() if x.pairing_id == pairing_id), None)

    def _by_session(self, session_id: str) -> Link | None:
        return next((x for x in self._links.values() if x.session_id == session_id), None)

    async def _audit_event(
        self, event: Event, account: Account, client: str | None, detail: dict[str, Any]
    ) -> None:
        await self._audit.record(Entry(event, account.id, client, detail, self._clock()))
