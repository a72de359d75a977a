"""Errors the domain raises, and the one JSON shape every client sees them in.

The same body goes out as an HTTP JSON response and as a Socket.IO
acknowledgement: ``{"error": {"code": ..., "message": ..., "details": ...}}``.
"""

from __future__ import annotations

from typing import Any


class ExamcastError(Exception):
    """Base class: ``code`` is stable for programs, ``message`` says what to do."""

    code = "error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        """The one error body, for HTTP and Socket.IO alike."""
        return error_body(self.code, self.message, self.details)


class InvalidInput(ExamcastError):
    code = "invalid_input"


class TooLarge(ExamcastError):
    code = "too_large"


class Unauthenticated(ExamcastError):
    code = "unauthenticated"


class Forbidden(ExamcastError):
    code = "forbidden"


class NotFound(ExamcastError):
    code = "not_found"


class Conflict(ExamcastError):
    code = "conflict"


class TooManyRequests(ExamcastError):
    code = "rate_limited"


class Unavailable(ExamcastError):
    code = "unavailable"


class Busy(Unavailable):
    """The server sheds optional work (new live viewers) to keep recording; try again soon."""

    code = "busy"


class DatabaseUnavailable(Unavailable):
    """The system of record did not answer (PostgreSQL down or unreachable): nothing of the
    request was written; try again in a few seconds."""

    code = "database_unavailable"


class Draining(Unavailable):
    """This node is about to stop (draining): it takes no new media sessions. The page
    connects again, and the load balancer sends it to another node."""

    code = "draining"


class LockTimeout(Unavailable):
    """A lock held elsewhere (another request, maybe on another node) was not let go in time."""

    code = "locked"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """``{"error": {code, message, details?}}``; the domain's per-field list
    (``exams.shared.fields``) becomes ``details.fields`` like every other bad-field report."""
    if (
        isinstance(details, list)
        and details
        and all(isinstance(d, dict) and {"field", "message"} <= d.keys() for d in details)
    ):
        fields: dict[str, str] = {}
        for d in details:
            field = str(d["field"])
            fields[field] = f"{fields[field]}; {d['message']}" if field in fields else d["message"]
        details = {"fields": fields}
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


# -- specific refusals: each keeps its family's HTTP status, with its own stable code --------


class StepRequired(Forbidden):
    """A step of the candidate journey comes first; ``details["step"]`` names it."""

    code = "step_required"


class VerificationRequired(Forbidden):
    """Real-person verification for ``details["scope"]`` has not passed yet."""

    code = "verification_required"


class NotAdmitted(Forbidden):
    """The candidate is not on the unit's admitted list (准考名单)."""

    code = "not_on_admitted_list"


class WrongCredentials(Unauthenticated):
    code = "wrong_credentials"


class WrongSmsCode(InvalidInput):
    code = "wrong_sms_code"


class InvalidAdmittedList(InvalidInput):
    """A CSV admitted list with bad rows; ``details["errors"]`` lists every one."""

    code = "invalid_admitted_list"


class UnsupportedMediaType(ExamcastError):
    code = "unsupported_media_type"


class NotOpenYet(Conflict):
    """Too early: the exam window has not opened; ``details["opens_at"]`` says when."""

    code = "not_open_yet"


class DeadlinePassed(Conflict):
    """Too late: the exam closed or a question's submission time is over."""

    code = "deadline_passed"


class Gone(ExamcastError):
    """It existed and is no more: an upload that expired or was refused (HTTP 410)."""

    code = "gone"


class UploadExpired(Gone):
    """Too late for an upload: the answer's deadline, or the upload grace after the exam."""

    code = "upload_expired"


class OffsetMismatch(Conflict):
    """A resumable upload's ``Upload-Offset`` is not where its data ends; ask again (HEAD)."""

    code = "offset_mismatch"


class UploadInterrupted(Conflict):
    """A newer request for the same upload took over, or its body stopped arriving."""

    code = "upload_interrupted"


class UploadLocked(ExamcastError):
    """Another request holds the upload and did not let go in time (HTTP 423)."""

    code = "upload_locked"


class ChecksumMismatch(ExamcastError):
    """The body did not match its ``Upload-Checksum``; nothing of it was kept (HTTP 460)."""

    code = "checksum_mismatch"


class PreconditionFailed(ExamcastError):
    """A protocol version the server does not speak (``Tus-Resumable``; HTTP 412)."""

    code = "precondition_failed"


class CameraBusy(Conflict):
    """Another question of the exam is being read or recorded (one at a time);
    ``details["question_id"]`` names it when known. Pages read it as a ``conflict``."""

    code = "conflict"


class ManualReviewRequired(Conflict):
    """Automatic verification is closed for the scope: upload a photo for staff review."""

    code = "manual_review_required"
