"""How an exam's performances are captured and sent: the sound and the picture it needs (#18).

Art admission exams record candidates singing, playing and speaking. A browser's
defaults are tuned for a call: Opus mono at ~32 kbit/s, band-limited, with the
voice processing on. An exam with the ``music`` audio profile asks for Opus
tuned for music instead: stereo, full band (48 kHz), a high average bitrate,
no DTX, in-band FEC for a lossy link. ``voice`` is what two browsers agree on
by themselves. The picture: a target size at 30 fps, with a minimum and a
maximum bitrate, and the frame rate below which the device check warns.

The unit sets it per exam (``media`` in the exam editor); an exam that says
nothing gets :data:`DEFAULT` (music at 128 kbit/s, 720p). Stored with the exam
(:meth:`exams.catalog.exam_rules.Exam.to_dict`); the media layer turns it into
the SDP answer's parameters and the page into its sender's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exams.shared.fields import Fields, Problems

MUSIC, VOICE = "music", "voice"
AUDIO_PROFILES = (MUSIC, VOICE)
MIN_AUDIO_KBPS, MAX_AUDIO_KBPS = 32, 510  # Opus's own range of average bitrates (RFC 7587)
MUSIC_KBPS = 128  # stereo music, transparent for most listeners; 256 for the demanding
VOICE_KBPS = 32  # a browser's own choice for speech
# Sound in packets of 40 ms (the answer's a=ptime), not a browser's 20: half the audio
# packets, so half their cost on the server's receive path (per packet, whatever its
# size) and ~12 kbit/s fewer headers on the candidate's uplink, for 20 ms more delay
# and a lost packet taking 40 ms of sound instead of 20 (the recorder fills it with
# silence, as before). 60 ms would take a third off that again, and lose 60 ms at a time.
AUDIO_PTIME_MS = 40
# ...unless a packet of that length at the exam's bitrate, at 1.5x its average (Opus's
# variable bitrate), would not fit a packet's payload under a 1200-byte MTU: 20 ms then.
MAX_AUDIO_PACKET_BYTES = 1000


@dataclass(frozen=True)
class VideoTarget:
    """A picture size at 30 fps, and the bitrates that keep a performance sharp at it."""

    name: str
    width: int
    height: int
    fps: int
    # The browser's bandwidth estimate stays above this (x-google-min-bitrate): a dip in
    # the estimate does not leave a performance to a blur. Low: a floor above what a weak
    # link carries makes the browser flood it, and then the sound is lost too (measured:
    # a 400 kbit/s floor on a 450 kbit/s uplink broke a take into five segments; 150 kept
    # it whole). The start is the server's start_bitrate_kbps.
    min_kbps: int
    sharp_kbps: int  # below this the device check warns that the picture will be blurred
    max_kbps: int  # the sender's ceiling


VIDEO_TARGETS = {
    "720p": VideoTarget("720p", 1280, 720, 30, 150, 800, 2500),
    "480p": VideoTarget("480p", 640, 480, 30, 100, 400, 1200),
}
MAX_MIN_FPS = 30


@dataclass(frozen=True)
class MediaProfile:
    """An exam's audio and video needs."""

    audio: str = MUSIC
    audio_kbps: int = MUSIC_KBPS
    video: str = "720p"
    min_fps: int = 20  # below this, the device check warns

    @property
    def target(self) -> VideoTarget:
        return VIDEO_TARGETS[self.video]

    @property
    def music(self) -> bool:
        return self.audio == MUSIC

    def opus_fmtp(self) -> dict[str, str]:
        """Parameters of the answer's ``a=fmtp`` for Opus (RFC 7587 6.1): how the browser
        encodes what it sends us. The voice profile leaves the browser at its defaults
        but for in-band FEC (what two browsers agree on)."""
        if not self.music:
            return {"useinbandfec": "1"}
        return {
            "stereo": "1",  # we take two channels: the browser sends both when it has them
            "maxplaybackrate": "48000",  # full band (20 kHz), not a voice band
            "maxaveragebitrate": str(self.audio_kbps * 1000),
            "usedtx": "0",  # a held note's quiet tail is music, not silence to skip
            "useinbandfec": "1",  # a lost packet is rebuilt from the next one's low copy
        }

    def ptime_ms(self) -> int | None:
        """The answer's ``a=ptime`` for the sound (None: the browser's own 20 ms)."""
        kbps = self.audio_kbps if self.music else VOICE_KBPS
        if AUDIO_PTIME_MS * kbps / 8 * 1.5 <= MAX_AUDIO_PACKET_BYTES:
            return AUDIO_PTIME_MS
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "audio": self.audio,
            "audio_kbps": self.audio_kbps,
            "video": self.video,
            "min_fps": self.min_fps,
        }

    def sending(self) -> dict[str, Any]:
        """What the page's sender needs (its getUserMedia constraints and parameters)."""
        t = self.target
        return {
            **self.to_dict(),
            "stereo": self.music,
            "width": t.width,
            "height": t.height,
            "fps": t.fps,
            "video_min_kbps": t.min_kbps,
            "video_sharp_kbps": t.sharp_kbps,
            "video_max_kbps": t.max_kbps,
        }

    @classmethod
    def from_dict(cls, data: Any, problems: Problems, prefix: str = "media.") -> MediaProfile:
        """Read what a person typed (``None``: the defaults); problems under ``media.<field>``."""
        if data is None:
            return cls()
        f = Fields(data, problems, prefix)
        audio = f.choice("audio", AUDIO_PROFILES) if f.raw("audio") is not None else MUSIC
        default_kbps = MUSIC_KBPS if audio != VOICE else VOICE_KBPS
        kbps = f.integer("audio_kbps", MIN_AUDIO_KBPS, MAX_AUDIO_KBPS, default=default_kbps)
        video = f.choice("video", tuple(VIDEO_TARGETS)) if f.raw("video") is not None else "720p"
        min_fps = f.integer("min_fps", 1, MAX_MIN_FPS, default=cls.min_fps)
        f.reject_unknown()
        if audio is None or kbps is None or video is None or min_fps is None:
            return cls()  # the problems say why; the exam is refused
        return cls(audio, kbps, video, min_fps)


DEFAULT = MediaProfile()


def strictest(profiles: list[MediaProfile]) -> MediaProfile:
    """One profile that meets all of ``profiles`` (a device check before the exam is
    chosen: the unit's most demanding exam decides); the default when there are none."""
    if not profiles:
        return DEFAULT
    music = [p for p in profiles if p.music]
    audio = MUSIC if music else VOICE
    kbps = max(p.audio_kbps for p in (music or profiles))
    video = max((p.video for p in profiles), key=lambda v: VIDEO_TARGETS[v].width)
    return MediaProfile(audio, kbps, video, max(p.min_fps for p in profiles))


# What the device check says when what the server receives falls short of the exam's needs
# (codes; the page words them). ``received``: media.quality.QualityMeter.snapshot().
NO_PICTURE, SMALL_PICTURE, LOW_FPS, LOW_VIDEO_BITRATE = (
    "no_picture",
    "small_picture",
    "low_fps",
    "low_video_bitrate",
)
NO_SOUND, MONO_SOUND, NARROW_SOUND, LOW_AUDIO_BITRATE = (
    "no_sound",
    "mono_sound",
    "narrow_sound",
    "low_audio_bitrate",
)
FULL_BAND_HZ = 16000  # music's harmonics and air: a band narrower than this dulls it


def shortfalls(profile: MediaProfile, received: dict[str, Any]) -> list[str]:
    """Where ``received`` (the server's live figures) falls below ``profile``."""
    out = []
    video, audio = received.get("video") or {}, received.get("audio") or {}
    target = profile.target
    if not video.get("frames"):
        out.append(NO_PICTURE)
    else:
        if min(video.get("width") or 0, video.get("height") or 0) < min(
            target.width, target.height
        ):
            out.append(SMALL_PICTURE)
        if (video.get("fps") or 0) < profile.min_fps:
            out.append(LOW_FPS)
        if (video.get("bitrate_kbps") or 0) < target.sharp_kbps:
            out.append(LOW_VIDEO_BITRATE)
    if not audio.get("present"):
        out.append(NO_SOUND)
    elif profile.music:
        if audio.get("channels") == 1:
            out.append(MONO_SOUND)
        band = audio.get("bandwidth_hz")
        if band is not None and band < FULL_BAND_HZ:
            out.append(NARROW_SOUND)
        if (audio.get("bitrate_kbps") or 0) < profile.audio_kbps / 2:
            out.append(LOW_AUDIO_BITRATE)
    return out
