"""Files whose bytes are still arriving (resumable uploads, M3.6, M3.7, M4.1).

An upload is added to the answer when it is created, as a *pending* file with
its declared kind, format and size (the same checks and count as a finished
file: :func:`exams.answering.offline.add_file`, :func:`exams.answering.materials.attach_file`), so
the answer may be saved and submitted before the bytes are all there. Until
when may they arrive? While the answer can change, until its submission
deadline; once it is submitted, until the exam's upload deadline (the exam
end plus ``upload_grace_s``, two hours). A pending file that completes is
marked so; one whose bytes fail the checks is dropped, even from a submitted
answer: nothing of a refused file is kept.
"""

from __future__ import annotations

from dataclasses import replace

from exams.catalog.attempts import Attempt, FileRef, Material
from exams.catalog.exam_rules import Exam
from exams.shared.errors import Gone, NotFound, UploadExpired


def upload_expiry(a: Attempt, exam: Exam) -> float:
    """Until when the pending files of ``a`` may complete (their ``Upload-Expires``)."""
    if a.submitted:
        return exam.upload_deadline
    if a.closed_at is not None:
        return a.closed_at
    return exam.closes_at if a.submission_deadline is None else a.submission_deadline


def find_file(a: Attempt, file_id: str) -> FileRef | None:
    """A file of the answer, offline or material, by id."""
    for f in a.files:
        if f.id == file_id:
            return f
    for m in a.materials:
        if m.file is not None and m.file.id == file_id:
            return m.file
    return None


def pending_files(a: Attempt) -> list[FileRef]:
    files = [*a.files, *(m.file for m in a.materials if m.file is not None)]
    return [f for f in files if f.pending]


def require_in_time(a: Attempt, exam: Exam, now: float) -> float:
    """The expiry of ``a``'s uploads; raises :class:`UploadExpired` once it has passed."""
    expires = upload_expiry(a, exam)
    if now >= expires:
        if a.submitted:
            why = "the upload time after the exam (two hours after it ended) is over"
        else:
            why = "this question's submission time is over and it was not submitted"
        raise UploadExpired(
            f"{why}; this file can no longer be uploaded", details={"expired_at": expires}
        )
    return expires


def complete_file(a: Attempt, exam: Exam, file_id: str, now: float) -> Attempt:
    """Every byte of a pending file arrived and passed the checks: it is a whole file now.
    Completing again changes nothing."""
    found = find_file(a, file_id)
    if found is None:
        raise Gone("this file was removed from the answer; upload it again if you need it")
    if not found.pending:
        return a
    require_in_time(a, exam, now)
    return _swap(a, file_id, replace(found, pending=False))


def drop_file(a: Attempt, file_id: str) -> Attempt:
    """Remove a file whose bytes were refused (or expired), even from a submitted answer."""
    if find_file(a, file_id) is None:
        return a
    return _swap(a, file_id, None)


def _swap(a: Attempt, file_id: str, new: FileRef | None) -> Attempt:
    files: list[FileRef] = []
    for f in a.files:
        if f.id != file_id:
            files.append(f)
        elif new is not None:
            files.append(new)
    materials: list[Material] = []
    for m in a.materials:
        if m.file is not None and m.file.id == file_id:
            if new is not None:
                materials.append(replace(m, file=new))
        else:
            materials.append(m)
    if tuple(files) == a.files and tuple(materials) == a.materials:
        raise NotFound("this answer has no such file")
    return replace(a, files=tuple(files), materials=tuple(materials))
