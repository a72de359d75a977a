"""Silence, from the RTP audio-level header extension: no audio is decoded.

A browser (and aiortc's sender) writes each audio packet's level in the
``urn:ietf:params:rtp-hdrext:ssrc-audio-level`` extension (RFC 6464: a voice
activity bit and the level in -dBov, 0 loudest, 127 digital silence); aiortc
parses it into ``packet.extensions.audio_level`` as ``(vad, level)``.
:class:`LevelNote` counts, per audio track, the packets that carry a level and
the loud ones, at the cost of a few attribute updates per packet
(:func:`media.tap.install` notes every audio packet into it); :class:`SilenceWatch`
reads the counts once per sample and feeds a :class:`Condition`.

A muted microphone (``track.enabled = false`` or muted in the system) sends
digital silence, level 127; a quiet room with a working microphone stays far
above -70 dBov. The voice-activity bit is not used: aiortc never sets it and
browsers set it only with their own VAD on.
"""

from __future__ import annotations

from exams.proctoring.conditions import Change, Condition

# A packet at least this loud (a level of at most this many -dBov) is sound; quieter
# ones are silence. Speech is near -20..-40 dBov, a quiet room -50..-65.
SOUND_MAX_LEVEL = 70


class LevelNote:
    """What an audio track's packets said of their level so far (updated per packet)."""

    __slots__ = ("last_loud_at", "loud", "packets")

    def __init__(self) -> None:
        self.packets = 0  # packets that carried a level
        self.loud = 0  # ... of them, loud ones
        self.last_loud_at: float | None = None  # media clock (monotonic) of the last loud one


class SilenceWatch:
    """One take's microphone: silent while its packets carry levels and none is loud.

    A sample with no level heard (no packets, or no extension negotiated) is no evidence
    either way: a condition under way goes on (a lost camera is :mod:`.camera_lost`'s).
    """

    def __init__(self, after_s: float, started_at: float) -> None:
        self.condition = Condition(after_s)
        self._started_at = started_at  # server clock: the silence cannot begin before this
        self._note: LevelNote | None = None
        self._packets = 0
        self._loud = 0

    def sample(self, note: LevelNote | None, now: float, media_now: float) -> Change | None:
        """``note``: the take's audio track's now (a new one after a reconnect); ``now`` on
        the server clock, ``media_now`` on the media clock the note's times are on."""
        if note is None:
            return self.condition.poll(now)
        if note is not self._note:  # a new track: its counts start from here
            self._note, self._packets, self._loud = note, note.packets, note.loud
            return self.condition.poll(now)
        packets, loud = note.packets - self._packets, note.loud - self._loud
        self._packets, self._loud = note.packets, note.loud
        if packets == 0:
            return self.condition.poll(now)
        if loud:
            return self.condition.feed(False, now)
        onset = self._started_at  # no sound heard at all: silent since the take began
        if self.condition.since is None and note.last_loud_at is not None:
            onset = now - max(0.0, media_now - note.last_loud_at)
        return self.condition.feed(True, max(onset, self._started_at)) or self.condition.poll(now)
