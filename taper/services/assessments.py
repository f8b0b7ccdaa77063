"""Visit assessments: a full CIWA-B (all 20 items) a clinician records at a visit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from taper.domain import instrument
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import User, VisitAssessment
from taper.services import audit

SCALE = instrument.CIWA_B


def record_visit(clinician: User, patient: User, raw: Mapping[str, object], note: str) -> int:
    """Score and store a visit's answers with its audit row, and return the total; raises
    ``instrument.AnswerError`` (nothing stored) when an item is missing or out of range."""
    answers = instrument.parse_answers(SCALE, raw, rater_set="all")
    total = instrument.total(answers)
    visit = VisitAssessment(
        patient_id=patient.id,
        clinician_id=clinician.id,
        day=local_today(datetime.now(UTC), patient.timezone),
        answers=answers,
        total=total,
        note=note.strip(),
    )
    db.session.add(visit)
    db.session.flush()
    audit.record(
        clinician, "assessment.create", "visit_assessment", visit.id, patient_id=patient.id
    )
    db.session.commit()
    return total
