"""Every message a client may send, and how each is checked.

A message is a JSON object with exactly the fields listed for its event,
each of the stated type and within its bounds. Anything else is refused
with an ``invalid_input`` (or ``too_large``) acknowledgement; the
connection stays open. ``docs/signaling.md`` documents the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exams.proctoring.page_events import PAGE_KINDS
from exams.shared.errors import InvalidInput, TooLarge

_ID_MAX = 64


@dataclass(frozen=True)
class Field:
    name: str
    kind: type
    required: bool = True
    max_len: int = _ID_MAX
    choices: tuple[str, ...] | None = None


# event name -> its fields. The SDP bound is the server's max_sdp_bytes setting.
CLIENT_EVENTS: dict[str, tuple[Field, ...]] = {
    "open_session": (
        Field("role", str, choices=("primary", "secondary", "viewer")),
        Field("resume", str, required=False),
        Field("pairing_id", str, required=False),
        Field("exam_id", str, required=False),  # viewer: the exam, and whom to watch in it
        Field("candidate_id", str, required=False),
    ),
    "offer": (
        Field("session_id", str),
        Field("type", str, choices=("offer",)),
        Field("sdp", str, max_len=0),
        Field("exam_id", str, required=False),  # the exam whose sound and picture it is for
        # the a=mid of the offer's second video section: the camera's small copy for the wall
        Field("preview", str, required=False),
    ),
    "media_received": (
        Field("session_id", str),
        Field("exam_id", str, required=False),  # as the offer's
    ),
    "start_take": (
        Field("session_id", str),
        Field("purpose", str, choices=("device_check",)),
    ),
    "stop_take": (Field("take_id", str),),
    "close_session": (Field("session_id", str),),
    "secondary_ready": (Field("session_id", str),),
    "page_event": (Field("kind", str, choices=tuple(PAGE_KINDS)),),
    "watch_wall": (Field("exam_id", str),),
    "unwatch_wall": (Field("exam_id", str),),
    # proctor actions (signaling.actions); text bounds are bytes (UTF-8), the domain's chars
    "send_message": (
        Field("exam_id", str),
        Field("candidate_id", str),
        Field("text", str, max_len=2048),
    ),
    "extend_time": (Field("exam_id", str), Field("candidate_id", str), Field("minutes", int)),
    "end_attempt": (
        Field("exam_id", str),
        Field("candidate_id", str),
        Field("reason", str, max_len=1024),
    ),
    "message_read": (Field("message_id", str),),
    "raise_hand": (Field("exam_id", str),),
    # the page's heartbeat: the server's clock, and how the media of its sessions flows
    "time": (),
}

SERVER_EVENTS = (
    "session_state",
    "take_started",
    "take_stopped",
    "take_stored",
    "take_failed",
    "secondary_state",
    "wall_tiles",
    "wall_closed",
    "viewer_state",
    "viewer_closed",
    "proctor_message",
    "deadline_changed",
    "attempt_ended",
    "hand_state",
    "message_read",
    "retake_granted",
)


def parse(event: str, data: Any, *, max_sdp_bytes: int) -> dict[str, Any]:
    """The message's fields, or :class:`InvalidInput` / :class:`TooLarge` saying what is wrong."""
    spec = CLIENT_EVENTS.get(event)
    if spec is None:
        raise InvalidInput(f"unknown event {event!r}")
    if not isinstance(data, dict):
        raise InvalidInput(f"{event}: the message must be a JSON object")
    names = {f.name for f in spec}
    unknown = sorted(str(k) for k in data if k not in names)
    if unknown:
        raise InvalidInput(f"{event}: unknown field(s) {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for f in spec:
        if f.name not in data or data[f.name] is None:
            if f.required:
                raise InvalidInput(f"{event}: {f.name} is required")
            continue
        value = data[f.name]
        if not isinstance(value, f.kind) or (isinstance(value, bool) and f.kind is not bool):
            raise InvalidInput(f"{event}: {f.name} must be a {f.kind.__name__}")
        if isinstance(value, str):
            limit = max_sdp_bytes if f.max_len == 0 else f.max_len
            if len(value.encode()) > limit:
                raise TooLarge(f"{event}: {f.name} is longer than {limit} bytes")
            if f.choices is not None and value not in f.choices:
                raise InvalidInput(f"{event}: {f.name} must be one of {', '.join(f.choices)}")
            if f.max_len != 0 and not value:
                raise InvalidInput(f"{event}: {f.name} must not be empty")
        out[f.name] = value
    return out
