"""Plans, logs and alerts written straight to the database, as a migration, an import or an
old version of the app might have left them (no form checks on the way)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models import (
    DailyLog,
    LogDose,
    PlanRevision,
    PlanStatus,
    TaperPlan,
    TaperStep,
    User,
)
from taper.services import plans


def store_plan(
    app,
    patient,
    clinician,
    steps,
    *,
    medication: str = "diazepam",
    status: PlanStatus = PlanStatus.ACTIVE,
    hold: tuple[date, date | None, str] | None = None,
) -> int:
    """A plan with one revision of ``steps`` [(start, "dose"[, {part: "dose"}[, note]])] and an
    optional hold (start, until, kind); returns its id."""
    with app.app_context():
        plan = TaperPlan(
            patient_id=patient.id,
            medication=medication,
            created_by_id=clinician.id,
            status=status,
        )
        revision = PlanRevision(
            plan=plan,
            number=1,
            author_id=clinician.id,
            reason="stored",
            hold_start=hold[0] if hold else None,
            hold_until=hold[1] if hold else None,
            hold_kind=hold[2] if hold else None,
            steps=[
                TaperStep(
                    start_date=step[0],
                    total=Decimal(step[1]),
                    note=step[3] if len(step) > 3 else "",
                    **{k: Decimal(v) for k, v in (step[2] if len(step) > 2 else {}).items()},
                )
                for step in steps
            ],
        )
        db.session.add_all([plan, revision])
        db.session.flush()
        plan.current_revision = revision
        db.session.commit()
        return plan.id


def store_log(
    app, patient, day: date, doses=(), *, score: int = 1, note: str = "", answers=None
) -> int:
    """A log for ``day`` with one dose answer per (plan id, medication, scheduled, taken), a
    note, and every item answered ``score`` (or ``answers`` {key: value})."""
    with app.app_context():
        log = DailyLog(
            patient_id=patient.id,
            day=day,
            version=1,
            submission_id=uuid.uuid4().hex,
            answers=answers or {item.key: score for item in CIWA_B.patient_items},
            patient_total=sum(answers.values()) if answers else score * len(CIWA_B.patient_items),
            note=note,
            red_flags=[],
            sleep_hours=Decimal("7"),
        )
        db.session.add(log)
        db.session.flush()
        for plan_id, medication, scheduled, taken in doses:
            db.session.add(
                LogDose(
                    log_id=log.id,
                    plan_id=plan_id,
                    medication=medication,
                    unit="mg",
                    dose_scheduled=Decimal(scheduled),
                    took_as_scheduled=Decimal(scheduled) == Decimal(taken),
                    dose_taken=Decimal(taken),
                )
            )
        db.session.commit()
        return log.id


def timeline_change(app, clinician, plan_id, action, today, until=None):
    """A hold, release, pause or resume through the service the plan page uses."""
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        actor = db.session.get(User, clinician.id)
        plans.apply_timeline_change(actor, plan, plan.version, action, today, "Review", until)
        db.session.commit()
