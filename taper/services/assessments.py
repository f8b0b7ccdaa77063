"""Visit assessments: a full CIWA-B (all 20 items) a clinician records at a visit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import select

from taper.domain import instrument
from taper.domain.log_input import is_submission_id
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import User, VisitAssessment
from taper.services import audit
from taper.services.savepoint import insert_once

SCALE = instrument.CIWA_B


def record_visit(
    clinician: User,
    patient: User,
    raw: Mapping[str, object],
    note: str,
    submission_id: str | None = None,
) -> int:
    """Score and store a visit's answers with its audit row, and return the total; raises
    ``instrument.AnswerError`` (nothing stored) when an item is missing or out of range. The
    same ``submission_id`` (the form's one-time id) again stores nothing more."""
    answers = instrument.parse_answers(SCALE, raw, rater_set="all")
    total = instrument.total(answers)
    if not is_submission_id(submission_id):
        submission_id = None
    elif (saved := _saved(submission_id, patient)) is not None:
        return saved.total
    visit = VisitAssessment(
        patient_id=patient.id,
        clinician_id=clinician.id,
        day=local_today(datetime.now(UTC), patient.timezone),
        answers=answers,
        total=total,
        note=note.strip(),
        submission_id=submission_id,
    )
    if not insert_once(visit):  # the same form at the same instant: the other one saved it
        saved = _saved(submission_id, patient)
        if saved is not None:
            return saved.total
        visit.submission_id = None  # another patient's form's id: never our own form's
        db.session.add(visit)
        db.session.flush()
    audit.record(
        clinician, "assessment.create", "visit_assessment", visit.id, patient_id=patient.id
    )
    db.session.commit()
    return total


def _saved(submission_id: str | None, patient: User) -> VisitAssessment | None:
    """The assessment a form with this one-time id already saved for this patient."""
    return db.session.scalar(
        select(VisitAssessment).where(
            VisitAssessment.submission_id == submission_id,
            VisitAssessment.patient_id == patient.id,
        )
    )
