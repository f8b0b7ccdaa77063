"""A patient's day as their pages show it: the Today page's dose cards, and what to tell
whoever answers an urgent call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.exc import SQLAlchemyError

from taper.domain import instrument
from taper.domain.schedule import local_today
from taper.domain.timeline import next_change
from taper.extensions import db
from taper.models import DailyLog, PlanStatus, TaperPlan, User
from taper.services import alerts, audit, logs, plans

log = logging.getLogger(__name__)


def _card(plan: TaperPlan, day: date, changed: bool) -> dict:
    """One plan's card: the dose in force on ``day``, what comes next, and any hold."""
    schedule = plans.schedule_of(plan)
    return {
        "plan": plan,
        "revision": plan.current_revision,
        "now": schedule.on(day),
        "next": next_change(schedule.steps, day, schedule.hold),
        # A hold or pause in force (even before the first step): what comes after it.
        "after_hold": schedule.after_hold(day),
        "hold": schedule.hold,
        "changed": changed,
    }


def today_page(patient: User, day: date) -> dict:
    """What Today shows on ``day``: a card per plan that is not completed (each viewing
    audited), whether the day is logged, and an urgent report of the last week; commits."""
    shown = [
        p
        for p in plans.plans_for_patient(patient, include_drafts=False)
        if p.status is not PlanStatus.COMPLETED
    ]
    unseen = plans.unseen_revisions(patient, shown)
    cards = []
    for plan in shown:
        cards.append(_card(plan, day, plan.id in unseen))
        audit.record(patient, "plan.view", "taper_plan", plan.id, patient_id=patient.id)
    logged = logs.versions_of_day(patient, day)
    urgent = alerts.recent_urgent(patient, day - timedelta(days=7))
    db.session.commit()
    return {"cards": cards, "logged": bool(logged), "urgent": urgent}


@dataclass(frozen=True)
class SavedDay:
    """What the confirmation after saving shows: the day's log as saved (its last version),
    the patient-rated subtotal's band, and each running plan's card as Today shows it (the
    dose in force today and the next change the clinician typed, or the hold or pause)."""

    log: DailyLog
    band: str | None  # None when the log has no score
    cards: list[dict]

    @property
    def scale_max(self) -> int:
        """The highest patient-rated subtotal (68)."""
        return instrument.CIWA_B.patient_max


def saved_day(patient: User, day: date, today: date) -> SavedDay | None:
    """The confirmation page for the log of ``day`` (None when that day has no log): what
    was saved, and what comes next on each plan as of ``today`` (each viewing audited, as
    on Today); commits."""
    versions = logs.versions_of_day(patient, day)
    if not versions:
        return None
    entry = versions[0]
    total = entry.patient_total
    band = None if total is None else instrument.patient_band(instrument.CIWA_B, total).label
    shown = [
        p
        for p in plans.plans_for_patient(patient, include_drafts=False)
        if p.status is not PlanStatus.COMPLETED
    ]
    cards = []
    for plan in shown:
        cards.append(_card(plan, today, False))
        audit.record(patient, "plan.view", "taper_plan", plan.id, patient_id=patient.id)
    db.session.commit()
    return SavedDay(entry, band, cards)


@dataclass(frozen=True)
class TodaysDose:
    """One plan's dose in force today, as the clinician typed it."""

    medication: str
    dose: Decimal
    unit: str


@dataclass(frozen=True)
class ToSay:
    """What the patient, or whoever is with them, tells the person who answers the call."""

    doses: list[TodaysDose]
    substances: bool
    substances_detail: str


def to_say(patient: User, substances: bool | None, detail: str) -> ToSay | None:
    """Today's dose of each plan in force, as the clinician typed it, and what else was taken
    today (from the form just sent, else from today's log). None if the database fails."""
    try:
        today = local_today(datetime.now(UTC), patient.timezone)
        doses = [
            TodaysDose(f.plan.medication, f.dose.step.total, f.plan.unit)
            for f in plans.in_force(patient, today)
        ]
        if substances is None:
            logged = logs.versions_of_day(patient, today)
            if logged and logged[0].substances is not None:
                substances, detail = logged[0].substances, logged[0].substances_detail
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("urgent page without today's dose: database unavailable")
        return None
    return ToSay(doses, bool(substances), detail)
