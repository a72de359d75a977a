"""What counts as a take damaged by the system, and the unit's rule for it (issue #18, M5).

The media layer writes a quality report on every take when it stops (``media/quality.py``;
``Take.quality``, version 1, seconds on the take's clock)::

    {"version": 1, "duration_s": 61.0, "lost_s": 3.2,
     "cameras": {"primary": {
        "video": {"frames": 1770, "fps": 29.0, "low_fps_s": 0.0, "lost_s": 3.2,
                  "lost": [{"from_s": 12.1, "to_s": 15.3, "reason": "network"}], ...},
        "audio": {"present": true, "frames": 3050, "lost_s": 3.2, ...}}}}

:func:`read_quality` reads it (anything else: ``None``, nothing to judge) and :func:`damage`
says, by the exam's :class:`RetakeRule`, what in it counts as damage: more than
``lost_over_s`` seconds lost, more than ``low_fps_over_s`` seconds below
:data:`LOW_FPS` frames a second (the report's own threshold), or no audio on any camera.
Each :class:`Damage` says what was lost and when, so the candidate, the university and the
audit log all read the same plain reason; a candidate who pulls the cable on purpose gets
a retake and a report saying exactly that.

Decisions: lost time counts per camera (the worst one); audio counts as missing when no
camera has any (a phone's sound still makes the answer heard); a rule switched off never
judges. The rule is part of the exam, stored with it (:class:`exams.catalog.exam_rules.Exam`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exams.shared.fields import Fields, Problems

LOW_FPS = 15.0  # the report counts seconds below this many frames a second
MAX_SECONDS = 3600.0
MAX_EXTRA = 10


@dataclass(frozen=True)
class RetakeRule:
    """The unit's rule (defaults from issue #18): which damage grants an extra formal take,
    and how many extra formal takes one question may get at most."""

    enabled: bool = True
    lost_over_s: float = 2.0  # more than this many seconds lost
    low_fps_over_s: float = 5.0  # more than this many seconds below LOW_FPS
    audio_missing: bool = True  # no audio on any camera counts
    max_extra: int = 2  # extra formal takes per question, at most

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "lost_over_s": self.lost_over_s,
            "low_fps_over_s": self.low_fps_over_s,
            "audio_missing": self.audio_missing,
            "max_extra": self.max_extra,
        }

    @classmethod
    def from_dict(cls, data: Any, problems: Problems, prefix: str = "retake.") -> RetakeRule:
        """Read what a person typed (``None``: the defaults); problems go to ``problems``
        under ``retake.<field>``."""
        if data is None:
            return cls()
        d = cls()
        f = Fields(data, problems, prefix)
        enabled = f.flag("enabled", d.enabled)
        lost = f.seconds("lost_over_s", d.lost_over_s, MAX_SECONDS)
        low = f.seconds("low_fps_over_s", d.low_fps_over_s, MAX_SECONDS)
        audio = f.flag("audio_missing", d.audio_missing)
        extra = f.integer("max_extra", 0, MAX_EXTRA, default=d.max_extra)
        f.reject_unknown()
        if lost is None or low is None or extra is None:
            return d  # the problems are noted; the caller raises
        return cls(enabled, lost, low, audio, extra)


@dataclass(frozen=True)
class Lost:
    """A stretch a camera's media did not reach the server, on the take's clock."""

    from_s: float
    to_s: float
    reason: str


@dataclass(frozen=True)
class CameraQuality:
    name: str
    lost_s: float
    lost: tuple[Lost, ...]
    low_fps_s: float
    audio_present: bool


@dataclass(frozen=True)
class Quality:
    duration_s: float
    lost_s: float
    cameras: tuple[CameraQuality, ...]


@dataclass(frozen=True)
class Damage:
    """One way a take was damaged: ``kind`` is ``lost``, ``low_fps`` or ``audio_missing``;
    ``seconds`` how much; ``stretches`` when (lost time); ``text`` says it plainly."""

    kind: str
    camera: str | None
    seconds: float
    stretches: tuple[Lost, ...] = ()

    @property
    def text(self) -> str:
        where = "" if self.camera in (None, "primary") else f" on the {self.camera} camera"
        if self.kind == "lost":
            when = ", ".join(f"{_clock(s.from_s)}-{_clock(s.to_s)}" for s in self.stretches)
            at = f" ({when})" if when else ""
            return f"this take lost {self.seconds:.1f} s to the network{where}{at}"
        if self.kind == "low_fps":
            return f"the picture ran below {LOW_FPS:g} fps for {self.seconds:.1f} s{where}"
        return "this take has no audio"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "camera": self.camera,
            "seconds": round(self.seconds, 1),
            "stretches": [
                {"from_s": round(s.from_s, 1), "to_s": round(s.to_s, 1), "reason": s.reason}
                for s in self.stretches
            ],
            "text": self.text,
        }


def read_damage(data: dict[str, Any]) -> Damage:
    """A :class:`Damage` back from storage (``dataclasses.asdict`` of one, or ``to_dict``)."""
    return Damage(
        str(data["kind"]),
        data.get("camera"),
        float(data["seconds"]),
        tuple(
            Lost(float(x["from_s"]), float(x["to_s"]), str(x["reason"]))
            for x in data.get("stretches") or ()
        ),
    )


def read_quality(data: Any) -> Quality | None:
    """The report of the contract's shape (version 1), or ``None`` for anything else."""
    if not isinstance(data, dict) or data.get("version") != 1:
        return None
    cameras = data.get("cameras")
    if not isinstance(cameras, dict):
        return None
    out = []
    for name, part in cameras.items():
        if not isinstance(part, dict):
            continue
        video = _part(part, "video")
        audio = _part(part, "audio")
        stretches = tuple(
            Lost(_num(x.get("from_s")), _num(x.get("to_s")), str(x.get("reason") or ""))
            for x in video.get("lost") or []
            if isinstance(x, dict)
        )
        out.append(
            CameraQuality(
                name=str(name),
                lost_s=max(_num(video.get("lost_s")), _num(audio.get("lost_s"))),
                lost=stretches,
                low_fps_s=_num(video.get("low_fps_s")),
                audio_present=bool(audio.get("present")),
            )
        )
    return Quality(_num(data.get("duration_s")), _num(data.get("lost_s")), tuple(out))


def damage(quality: Any, rule: RetakeRule) -> list[Damage]:
    """What in ``quality`` (the report dict) counts as damage by ``rule``; empty when
    nothing does, the rule is off, or there is no report."""
    q = read_quality(quality)
    if q is None or not rule.enabled:
        return []
    found: list[Damage] = []
    worst = max(q.cameras, key=lambda c: c.lost_s, default=None)
    lost_s = max(q.lost_s, worst.lost_s if worst is not None else 0.0)
    if lost_s > rule.lost_over_s:
        camera = worst.name if worst is not None and worst.lost_s >= lost_s else None
        stretches = worst.lost if worst is not None else ()
        found.append(Damage("lost", camera, lost_s, stretches))
    for cam in q.cameras:
        if cam.low_fps_s > rule.low_fps_over_s:
            found.append(Damage("low_fps", cam.name, cam.low_fps_s))
    if rule.audio_missing and q.cameras and not any(c.audio_present for c in q.cameras):
        found.append(Damage("audio_missing", None, q.duration_s))
    return found


def camera_text(quality: Any, camera: str) -> str:
    """One camera's report for a spreadsheet cell (the export's ``quality`` column):
    ``1280x720, 29.5 fps, 1800 kbit/s; lost 3.2 s (0:12-0:15 network); below 15 fps 0.0 s;
    frozen 0.0 s; black 0.0 s; audio 2 ch, 20.0 kHz, 128 kbit/s``; "" without a report."""
    if read_quality(quality) is None:
        return ""
    part = quality["cameras"].get(camera)
    if not isinstance(part, dict):
        return ""
    v, a = _part(part, "video"), _part(part, "audio")
    sizes = [
        f"{r.get('width')}x{r.get('height')}"
        for r in v.get("resolutions") or []
        if isinstance(r, dict)
    ]
    picture = f"{'/'.join(sizes) or '?'}, {_num(v.get('fps')):.1f} fps, "
    picture += f"{_num(v.get('bitrate_kbps')):.0f} kbit/s"
    stretches = [
        f"{_clock(_num(x.get('from_s')))}-{_clock(_num(x.get('to_s')))} {x.get('reason') or ''}"
        for x in v.get("lost") or []
        if isinstance(x, dict)
    ]
    lost = f"lost {_num(v.get('lost_s')):.1f} s"
    if stretches:
        lost += f" ({', '.join(s.strip() for s in stretches)})"
    if a.get("present"):
        bw = a.get("bandwidth_hz")
        khz = f"{_num(bw) / 1000:.1f} kHz" if bw else "? kHz"
        sound = (
            f"audio {a.get('channels') or '?'} ch, {khz}, {_num(a.get('bitrate_kbps')):.0f} kbit/s"
        )
    else:
        sound = "no audio"
    return "; ".join(
        [
            picture,
            lost,
            f"below {LOW_FPS:g} fps {_num(v.get('low_fps_s')):.1f} s",
            f"frozen {_num(v.get('frozen_s')):.1f} s",
            f"black {_num(v.get('black_s')):.1f} s",
            sound,
        ]
    )


def _part(camera: dict[str, Any], name: str) -> dict[str, Any]:
    value = camera.get(name)
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 0.0
    return float(value)


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"
