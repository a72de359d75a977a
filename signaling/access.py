"""Who may send which client event: each role gets only its own socket actions.

Every socket event today drives a candidate's own cameras: the exam and
device-check pages (``primary``) and the phone that is the second camera,
which logs in as the same candidate (``secondary``). Staff consoles use HTTP
only, so a unit admin, proctor or staff reviewer cannot open a media session,
record or play a device-check take through a socket, and their connections
are refused at once. Proctors and unit admins open ``viewer`` sessions (watching a
candidate live) with the session events.
"""

from __future__ import annotations

from exams.identity.accounts import Role
from exams.shared.errors import Forbidden

CANDIDATE_ONLY = frozenset({Role.CANDIDATE})
WALL_WATCHERS = frozenset({Role.PROCTOR, Role.UNIT_ADMIN})
# A viewer session (a proctor or unit admin watching a candidate live) uses the same
# session events; what each role may open is checked by signaling.viewers.check_role.
SESSIONS = frozenset({Role.CANDIDATE, Role.PROCTOR, Role.UNIT_ADMIN})

# client event -> the roles that may send it (the connect handler and every event obey it)
EVENT_ROLES: dict[str, frozenset[Role]] = {
    "open_session": SESSIONS,
    "offer": SESSIONS,
    "start_take": CANDIDATE_ONLY,
    "stop_take": CANDIDATE_ONLY,
    "close_session": SESSIONS,
    "secondary_ready": CANDIDATE_ONLY,
    # what the question page reports of itself (hidden, window left...): issue #13
    "page_event": CANDIDATE_ONLY,
    # the proctors' wall of an exam (signaling.wall): who may watch which exam is the domain's
    "watch_wall": WALL_WATCHERS,
    "unwatch_wall": WALL_WATCHERS,
    # proctor actions (signaling.actions): on whom each may act is the domain's
    "send_message": WALL_WATCHERS,
    "extend_time": WALL_WATCHERS,
    "end_attempt": WALL_WATCHERS,
    "message_read": CANDIDATE_ONLY,  # the question page and the phone
    "raise_hand": CANDIDATE_ONLY,
    # what the server receives of a camera against its exam's needs (the device check, #18)
    "media_received": CANDIDATE_ONLY,
    # the pages' heartbeat and clock (a silent drop is noticed in seconds, not at ping timeout)
    "time": SESSIONS | WALL_WATCHERS,
}


def may_connect(role: Role) -> bool:
    """A role that may send no event has no use for a connection."""
    return any(role in roles for roles in EVENT_ROLES.values())


def require(role: Role, event: str) -> None:
    roles = EVENT_ROLES.get(event, frozenset())
    if role not in roles:
        raise Forbidden(
            f"{event} is for the role {' or '.join(sorted(r.value for r in roles)) or 'none'}; "
            f"your account is a {role.value}"
        )


def refusal(role: Role) -> Forbidden:
    return Forbidden(
        f"the camera connection is for candidates; your account is a {role.value}: "
        "use the console pages"
    )
