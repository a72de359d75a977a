"""Rehearsals and the formal answer of an online question (MISSION M3.2-M3.4, M5).

The flow, the same for a rehearsal (排练) and the formal answer (正式答题):
the candidate enters, a reading period (阅题) runs, then a take records until
its recording limit (录制时限) or until stopped by hand.

Rules, and the decisions where the manual is silent:

- Rehearsals come before the formal answer ("考生在正式录制前可以进行排练"):
  once the formal answer is entered, no more rehearsals.
- Entering the formal answer happens once and starts its submission clock:
  ``min(entered + submission_limit_s, exam close)``, or the exam close when
  the question has no limit (M3.8).
- With a reading limit, recording starts by itself when it runs out (the
  server does it: :mod:`exams.answering.deadlines` says when). The candidate may also
  start earlier by hand: the limit is the longest one may read. Without a
  limit, the candidate starts by hand.
- A formal retake ("record again") follows the first take without a new
  reading period; the candidate has read the question and starts by hand.
- Every take counts once it has started, interrupted or not (M5: after a
  power or network loss one records again if recordings remain).
- A take records until ``started + recording_limit_s``, cut short at the
  submission deadline (formal) or the exam close (rehearsal): recording past
  them could never be submitted. A stopped take is never continued.
- A second camera (需二机位) must be ready before the candidate starts a
  take, rehearsal or formal (the manual's flow is the same for both). When
  the server starts it because the reading time ran out,
  the time rule wins: recording starts without the second camera rather than
  giving the candidate more reading time, and the take records that
  ``secondary_ready`` was false.
"""

from __future__ import annotations

from dataclasses import replace

from exams.catalog.attempts import (
    Attempt,
    AttemptTake,
    Reading,
    TakeKind,
    check_live,
    online_settings,
)
from exams.catalog.exam_rules import Exam
from exams.catalog.questions import OnlineSettings
from exams.shared.errors import Conflict, InvalidInput


def begin_rehearsal(a: Attempt, exam: Exam, now: float) -> Attempt:
    """The candidate taps Rehearse (排练): a rehearsal's reading period begins."""
    s = online_settings(a, exam)
    check_live(a, exam, now)
    if not s.rehearsal_allowed:
        raise Conflict("this question does not allow rehearsals; enter the formal answer")
    if a.entered_at is not None:
        raise Conflict("rehearsals come before the formal answer, which you have entered")
    _require_not_recording(a)
    _require_rehearsal_left(a, s)
    if a.reading is not None:
        return a  # already reading: tapping again does not restart the countdown
    return replace(a, reading=Reading(TakeKind.REHEARSAL, now, _reading_deadline(s, now)))


def leave_rehearsal(a: Attempt) -> Attempt:
    """The candidate goes back (返回): a pending rehearsal reading ends unused and the last
    rehearsal's playback is forfeited (the service deletes its file)."""
    if a.reading is not None and a.reading.kind is TakeKind.REHEARSAL:
        a = replace(a, reading=None)
    last = a.takes[-1] if a.takes else None
    if last is not None and last.kind is TakeKind.REHEARSAL and not last.recording:
        a = a.with_take(replace(last, played_back=True))
    return a


def enter_formal(a: Attempt, exam: Exam, now: float) -> Attempt:
    """The candidate taps Formal answer (正式答题): the submission clock and reading start."""
    s = online_settings(a, exam)
    check_live(a, exam, now)
    if a.entered_at is not None:
        raise Conflict("you have already entered the formal answer; its time is running")
    _require_not_recording(a)
    limit = s.submission_limit_s
    deadline = exam.closes_at if limit is None else min(now + limit, exam.closes_at)
    a = leave_rehearsal(a)
    return replace(
        a,
        entered_at=now,
        submission_deadline=deadline,
        reading=Reading(TakeKind.FORMAL, now, _reading_deadline(s, now)),
    )


def start_take(
    a: Attempt,
    exam: Exam,
    kind: TakeKind,
    take_id: str,
    now: float,
    *,
    secondary_ready: bool = False,
    by_server: bool = False,
) -> Attempt:
    """Start recording a take. ``by_server``: the reading time ran out (a due
    :class:`~exams.answering.deadlines.StartRecording`); ``secondary_ready``: the paired
    second camera tapped Ready."""
    s = online_settings(a, exam)
    check_live(a, exam, now)
    if not take_id:
        raise InvalidInput("a take needs an id")
    if any(t.id == take_id for t in a.takes):
        raise Conflict("a take with this id exists already; a new take needs a new id")
    _require_not_recording(a)
    reading = a.reading
    if kind is TakeKind.REHEARSAL:
        if reading is None or reading.kind is not TakeKind.REHEARSAL:
            raise Conflict("tap Rehearse (排练) before starting a rehearsal recording")
        _require_rehearsal_left(a, s)
        cut = exam.closes_at
    else:
        if a.entered_at is None or a.submission_deadline is None:
            raise Conflict("enter the formal answer (正式答题) before recording it")
        allowed = a.formal_allowed(s.formal_count)
        if a.used(TakeKind.FORMAL) >= allowed:
            raise Conflict(f"all {allowed} formal recording(s) are used; choose one and submit it")
        cut = a.submission_deadline
    # The manual's flow is the same for 排练 and 正式答题: the phone taps Ready first.
    if s.second_camera_required and not secondary_ready and not by_server:
        raise Conflict(
            "this question needs a second camera (需二机位): scan the QR code with your "
            "phone, place it, tap Ready (就绪), then start recording"
        )
    if by_server and (
        reading is None
        or reading.kind is not kind
        or reading.deadline is None
        or now < reading.deadline
    ):
        raise Conflict("the reading time is not over; recording starts by itself when it is")
    take = AttemptTake(
        id=take_id,
        kind=kind,
        started_at=now,
        deadline=min(now + s.recording_limit_s, cut),
        started_by="server" if by_server else "candidate",
        secondary_ready=secondary_ready,
    )
    return replace(a, takes=(*a.takes, take), reading=None)


def stop_take(a: Attempt, take_id: str, now: float, reason: str = "stopped") -> Attempt:
    """Stop a recording take: by hand (``stopped``), at its limit (``time_limit``), or
    because its device went away (``interrupted``). Stopping is never refused for lateness:
    a stop that arrives after the deadline is recorded as stopped by the limit, at the
    deadline, since nothing after it counts."""
    take = a.take(take_id)
    if not take.recording:
        raise Conflict("this take has already stopped and cannot be continued; record a new take")
    if now >= take.deadline:
        now, reason = take.deadline, "time_limit"
    return a.with_take(replace(take, stopped_at=now, stop_reason=reason))


def mark_take_failed(a: Attempt, take_id: str) -> Attempt:
    """The media layer stored nothing usable for this take: it can no longer be chosen."""
    take = a.take(take_id)
    if take.recording:
        raise Conflict("this take is still recording; stop it first")
    a = a.with_take(replace(take, media_failed=True))
    if a.chosen_take_id == take_id and not a.submitted:
        a = replace(a, chosen_take_id=None)
    return a


def rehearsal_playable(a: Attempt, take: AttemptTake) -> bool:
    """A rehearsal may be played back once, right after it ends (M3.3), until the
    candidate moves on: a new reading or take, or the formal answer."""
    return (
        take.kind is TakeKind.REHEARSAL
        and not take.recording
        and not take.played_back
        and not take.media_failed
        and a.takes[-1].id == take.id
        and a.reading is None
        and a.entered_at is None
    )


def rehearsal_playback(a: Attempt, take_id: str) -> Attempt:
    """Use a rehearsal's single playback; afterwards the service deletes its file."""
    take = a.take(take_id)
    if take.kind is not TakeKind.REHEARSAL:
        raise Conflict("this is a formal recording, not a rehearsal")
    if take.recording:
        raise Conflict("this rehearsal is still recording; stop it to play it back")
    if not rehearsal_playable(a, take):
        raise Conflict("a rehearsal can be played back once, right after it ends; this one is gone")
    return a.with_take(replace(take, played_back=True))


def discardable_rehearsals(a: Attempt) -> tuple[str, ...]:
    """Rehearsal takes whose files the service may delete: they can never be played again."""
    return tuple(
        t.id
        for t in a.takes
        if t.kind is TakeKind.REHEARSAL and not t.recording and not rehearsal_playable(a, t)
    )


def check_formal_playback(a: Attempt, exam: Exam, take_id: str) -> AttemptTake:
    """Raise unless the candidate may play this formal take back (set per question)."""
    s = online_settings(a, exam)
    take = a.take(take_id)
    if take.kind is not TakeKind.FORMAL:
        raise Conflict("rehearsals are played back once, right after they end")
    if not s.formal_playback_allowed:
        raise Conflict("this question does not allow playing back formal recordings")
    if take.recording:
        raise Conflict("this take is still recording; stop it to play it back")
    return take


def remaining(a: Attempt, exam: Exam, kind: TakeKind) -> int:
    """Takes of ``kind`` the candidate may still start; a page offers "record again"
    (M3.7) while formal ones remain."""
    s = online_settings(a, exam)
    allowed = s.rehearsal_count if kind is TakeKind.REHEARSAL else a.formal_allowed(s.formal_count)
    return max(0, allowed - a.used(kind))


def _reading_deadline(s: OnlineSettings, now: float) -> float | None:
    return None if s.reading_limit_s is None else now + s.reading_limit_s


def _require_not_recording(a: Attempt) -> None:
    if a.recording_take is not None:
        raise Conflict("a recording of this question is running; stop it first")


def _require_rehearsal_left(a: Attempt, s: OnlineSettings) -> None:
    if a.used(TakeKind.REHEARSAL) >= s.rehearsal_count:
        raise Conflict(
            f"all {s.rehearsal_count} rehearsal(s) are used; enter the formal answer when ready"
        )
