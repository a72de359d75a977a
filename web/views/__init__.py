"""HTTP API views, one module per area; each declares its routes on an ``openapi.Api``."""

from __future__ import annotations

from web.openapi import Api
from web.views import (
    account_security,
    accounts,
    admin,
    admission,
    answers,
    claims,
    docs,
    documents,
    exam_admin,
    exams,
    incidents,
    messages,
    pairing,
    proctor,
    reference_photos,
    reviews,
    staff,
    takes,
    uploads,
    verification,
)

APIS: list[Api] = [
    accounts.api,
    account_security.api,
    claims.api,
    documents.api,
    verification.api,
    admission.api,
    admin.api,
    reference_photos.api,
    reviews.api,
    exams.api,
    answers.api,
    uploads.api,
    pairing.api,
    exam_admin.api,
    proctor.api,
    messages.api,
    incidents.api,
    staff.api,
    takes.api,
    docs.api,
]
DOCUMENTED_ELSEWHERE: list[Api] = [docs.media]
