"""Questions and the settings a university gives each one (MISSION M3.2, M3.6).

A question is answered either online (在线录制: recorded on this server, with
reading, recording and submission time limits, optional rehearsals, a number
of formal recordings, extra materials) or offline (线下录制: files prepared
beforehand and uploaded). :meth:`Question.from_dict` is the one way in for
settings a person typed: it checks every field and reports every problem at
once. Times are whole seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exams.shared.errors import InvalidInput
from exams.shared.fields import Fields, Problems

READING_MAX_S = 3600
RECORDING_MAX_S = 7200
SUBMISSION_MAX_S = 86_400  # a longer limit is a typo (ms?); null means "until the exam ends"
TAKES_MAX = 99
MATERIAL_FILES_MAX = 20
TEXT_CHARS_MAX = 100_000
OFFLINE_FILES_MAX = 50
_FORMAT = re.compile(r"[a-z0-9]{1,10}")


class QuestionMode(StrEnum):
    ONLINE = "online"  # 在线录制
    OFFLINE = "offline"  # 线下录制


class MaterialKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"
    TEXT = "text"


class FileKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"
    TEXT = "text"
    PDF = "pdf"


@dataclass(frozen=True)
class MaterialRule:
    """An extra material an online answer asks for: inline text, or uploaded files."""

    key: str
    kind: MaterialKind
    label: str = ""
    required: bool = False
    max_count: int = 1
    max_bytes: int | None = None  # files
    max_chars: int | None = None  # text
    formats: tuple[str, ...] = ()  # file extensions, lower case, no dot

    @property
    def is_text(self) -> bool:
        return self.kind is MaterialKind.TEXT


@dataclass(frozen=True)
class OnlineSettings:
    recording_limit_s: int
    reading_limit_s: int | None = None  # None: unlimited, the candidate starts by hand
    submission_limit_s: int | None = None  # None: until the exam ends (M3.8)
    rehearsal_allowed: bool = False
    rehearsal_count: int = 0
    formal_count: int = 1
    second_camera_required: bool = False
    formal_playback_allowed: bool = False
    auto_submit: bool = False
    materials: tuple[MaterialRule, ...] = ()

    def material(self, key: str) -> MaterialRule:
        for rule in self.materials:
            if rule.key == key:
                return rule
        known = ", ".join(rule.key for rule in self.materials) or "none"
        raise InvalidInput(f"this question asks for no material {key!r} (it asks for: {known})")


@dataclass(frozen=True)
class FileRule:
    """What offline answer files must look like; the upload issue applies it to bytes."""

    kinds: tuple[FileKind, ...]
    formats: tuple[str, ...]
    max_bytes: int
    min_bytes: int = 0
    min_count: int = 1
    max_count: int = 1


@dataclass(frozen=True)
class OfflineSettings:
    files: FileRule
    submission_limit_s: int | None = None  # counted from opening the question; None: exam end


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    order: int
    settings: OnlineSettings | OfflineSettings
    prompt: str = ""

    @property
    def mode(self) -> QuestionMode:
        if isinstance(self.settings, OnlineSettings):
            return QuestionMode.ONLINE
        return QuestionMode.OFFLINE

    @property
    def online(self) -> OnlineSettings:
        if not isinstance(self.settings, OnlineSettings):
            raise InvalidInput("this is an offline question: upload your prepared files instead")
        return self.settings

    @property
    def offline(self) -> OfflineSettings:
        if not isinstance(self.settings, OfflineSettings):
            raise InvalidInput("this is an online question: record your answer on this page")
        return self.settings

    @classmethod
    def from_dict(cls, data: Any) -> Question:
        """Check settings a person typed; raises :class:`InvalidInput` listing every problem."""
        problems = Problems()
        question = read_question(Fields(data, problems), problems)
        problems.raise_if_any("the question")
        assert question is not None
        return question

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "prompt": self.prompt,
            "order": self.order,
            "mode": self.mode.value,
        }
        s = self.settings
        if isinstance(s, OnlineSettings):
            out |= {
                "reading_limit_s": s.reading_limit_s,
                "recording_limit_s": s.recording_limit_s,
                "submission_limit_s": s.submission_limit_s,
                "rehearsal_allowed": s.rehearsal_allowed,
                "rehearsal_count": s.rehearsal_count,
                "formal_count": s.formal_count,
                "second_camera_required": s.second_camera_required,
                "formal_playback_allowed": s.formal_playback_allowed,
                "auto_submit": s.auto_submit,
                "materials": [_material_dict(m) for m in s.materials],
            }
        else:
            f = s.files
            out |= {
                "submission_limit_s": s.submission_limit_s,
                "files": {
                    "kinds": [k.value for k in f.kinds],
                    "formats": list(f.formats),
                    "min_count": f.min_count,
                    "max_count": f.max_count,
                    "min_bytes": f.min_bytes,
                    "max_bytes": f.max_bytes,
                },
            }
        return out


def read_question(f: Fields, problems: Problems) -> Question | None:
    """Read one question object, noting problems; ``None`` when it has any."""
    before = len(problems.items)
    if not f.is_object:
        return None
    qid = f.text("id", max_len=64)
    title = f.text("title", max_len=200)
    prompt = f.text("prompt", required=False)
    order = f.integer("order", 1, 999)
    mode = f.choice("mode", tuple(QuestionMode))
    settings: OnlineSettings | OfflineSettings | None = None
    if mode == QuestionMode.ONLINE:
        settings = _online(f)
    elif mode == QuestionMode.OFFLINE:
        settings = _offline(f)
    f.reject_unknown()
    if len(problems.items) > before or settings is None:
        return None
    assert qid is not None and title is not None and order is not None
    return Question(id=qid, title=title, order=order, settings=settings, prompt=prompt or "")


def _online(f: Fields) -> OnlineSettings | None:
    reading = f.optional_integer("reading_limit_s", 1, READING_MAX_S, none_means="unlimited")
    recording = f.integer("recording_limit_s", 1, RECORDING_MAX_S)
    submission = f.optional_integer(
        "submission_limit_s", 1, SUBMISSION_MAX_S, none_means="until the exam ends"
    )
    if submission is not None and recording is not None and not f.bad("reading_limit_s"):
        needed = (reading or 0) + recording
        if submission <= needed:
            f.add(
                "submission_limit_s",
                f"must be longer than reading plus recording time ({needed} s), "
                "or the candidate cannot finish in time",
            )
    rehearsal_allowed = f.flag("rehearsal_allowed")
    if rehearsal_allowed:
        rehearsal_count = f.integer("rehearsal_count", 1, TAKES_MAX)
    else:
        rehearsal_count = 0
        if f.raw("rehearsal_count") not in (None, 0):
            f.add("rehearsal_count", "must be 0 (or absent) when rehearsals are not allowed")
    formal_count = f.integer("formal_count", 1, TAKES_MAX, default=1)
    auto_submit = f.flag("auto_submit")
    second_camera_required = f.flag("second_camera_required")
    formal_playback_allowed = f.flag("formal_playback_allowed")
    materials = _materials(f)
    if auto_submit and formal_count is not None and formal_count != 1:
        f.add("auto_submit", "is only possible when formal_count is 1 (a single recording)")
    if auto_submit and any(m.required for m in materials):
        f.add(
            "auto_submit",
            "cannot be combined with required materials: the answer would submit itself "
            "before they are added; make them optional or turn auto_submit off",
        )
    if recording is None or rehearsal_count is None or formal_count is None:
        return None
    return OnlineSettings(
        recording_limit_s=recording,
        reading_limit_s=reading,
        submission_limit_s=submission,
        rehearsal_allowed=rehearsal_allowed,
        rehearsal_count=rehearsal_count,
        formal_count=formal_count,
        second_camera_required=second_camera_required,
        formal_playback_allowed=formal_playback_allowed,
        auto_submit=auto_submit,
        materials=materials,
    )


def _materials(f: Fields) -> tuple[MaterialRule, ...]:
    rules: list[MaterialRule] = []
    keys: set[str] = set()
    for i, item in enumerate(f.items("materials")):
        m = Fields(item, f.problems, f"{f.path('materials')}[{i}].")
        kind = m.choice("kind", tuple(MaterialKind))
        key = m.text("key", required=False, max_len=64) or kind
        if key is not None and key in keys:
            m.add("key", f"{key!r} is used by another material; give each its own key")
        label = m.text("label", required=False, max_len=200) or ""
        required = m.flag("required")
        rule: MaterialRule | None = None
        if kind == MaterialKind.TEXT:
            max_chars = m.integer("max_chars", 1, TEXT_CHARS_MAX)
            if m.raw("max_count") not in (None, 1):
                m.add("max_count", "is always 1 for text: one answer box per material")
            for name in ("max_bytes", "formats"):
                if m.raw(name) not in (None, []):
                    m.add(name, "does not apply to text, which is typed in; remove it")
            if max_chars is not None:
                rule = MaterialRule(
                    key or "", MaterialKind.TEXT, label, required, 1, None, max_chars
                )
        elif kind is not None:
            max_count = m.integer("max_count", 1, MATERIAL_FILES_MAX, default=1)
            max_bytes = m.integer("max_bytes", 1)
            formats = _formats(m)
            if m.raw("max_chars") is not None:
                m.add("max_chars", f"applies to text only; a {kind} material is a file")
            if max_count is not None and max_bytes is not None and formats:
                kind_ = MaterialKind(kind)
                rule = MaterialRule(
                    key or "", kind_, label, required, max_count, max_bytes, None, formats
                )
        m.reject_unknown()
        if key is not None:
            keys.add(key)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def _offline(f: Fields) -> OfflineSettings | None:
    submission = f.optional_integer(
        "submission_limit_s", 1, SUBMISSION_MAX_S, none_means="until the exam ends"
    )
    r = Fields(f.raw("files"), f.problems, f.path("files."))
    kinds: list[FileKind] = []
    for i, kind in enumerate(r.items("kinds")):
        if kind in tuple(FileKind):
            kinds.append(FileKind(kind))
        else:
            r.add(f"kinds[{i}]", f"must be one of {', '.join(FileKind)}")
    if not kinds and not r.bad("kinds"):
        r.add("kinds", "list at least one kind of file the candidate may upload")
    formats = _formats(r)
    min_count = r.integer("min_count", 1, OFFLINE_FILES_MAX, default=1)
    max_count = r.integer("max_count", 1, OFFLINE_FILES_MAX)
    if min_count is not None and max_count is not None and max_count < min_count:
        r.add("max_count", f"must be at least min_count ({min_count})")
    min_bytes = r.integer("min_bytes", 0, default=0)
    max_bytes = r.integer("max_bytes", 1)
    if min_bytes is not None and max_bytes is not None and max_bytes < min_bytes:
        r.add("max_bytes", f"must be at least min_bytes ({min_bytes})")
    r.reject_unknown()
    if None in (min_count, max_count, min_bytes, max_bytes) or not kinds or not formats:
        return None
    assert min_count is not None and max_count is not None
    assert min_bytes is not None and max_bytes is not None
    if min_count > max_count or min_bytes > max_bytes:
        return None
    rule = FileRule(tuple(kinds), formats, max_bytes, min_bytes, min_count, max_count)
    return OfflineSettings(files=rule, submission_limit_s=submission)


def _formats(f: Fields) -> tuple[str, ...]:
    """File extensions, normalised to lower case without the dot; at least one."""
    out: list[str] = []
    bad = False
    for i, value in enumerate(f.items("formats")):
        fmt = normalise_format(value) if isinstance(value, str) else ""
        if not _FORMAT.fullmatch(fmt):
            f.add(f"formats[{i}]", "must be a file extension such as mp4 or .webm")
            bad = True
        elif fmt not in out:
            out.append(fmt)
    if not out and not bad and not f.bad("formats"):
        f.add("formats", 'list the file extensions accepted, e.g. ["mp4", "webm"]')
    return tuple(out)


def normalise_format(value: str) -> str:
    return value.strip().lower().removeprefix(".")


def _material_dict(m: MaterialRule) -> dict[str, Any]:
    out: dict[str, Any] = {"key": m.key, "kind": m.kind.value, "label": m.label}
    out["required"] = m.required
    if m.is_text:
        out["max_chars"] = m.max_chars
    else:
        out |= {"max_count": m.max_count, "max_bytes": m.max_bytes, "formats": list(m.formats)}
    return out
