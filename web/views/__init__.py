"""HTTP API views, one module per area; each declares its routes on an ``openapi.Api``."""

from __future__ import annotations

from web.openapi import Api
from web.views import (
    accounts,
    admin,
    admission,
    answers,
    docs,
    documents,
    exam_admin,
    exams,
    pairing,
    proctor,
    reviews,
    uploads,
    verification,
)

APIS: list[Api] = [
    accounts.api,
    documents.api,
    verification.api,
    admission.api,
    admin.api,
    reviews.api,
    exams.api,
    answers.api,
    uploads.api,
    pairing.api,
    exam_admin.api,
    proctor.api,
    docs.api,
]
DOCUMENTED_ELSEWHERE: list[Api] = [docs.media]
