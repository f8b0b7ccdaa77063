"""A patient's day as their pages show it: the Today page's dose cards, and what to tell
whoever answers an urgent call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from taper.domain import instrument
from taper.domain.schedule import local_today
from taper.domain.timeline import PlanSchedule, next_change, step_periods
from taper.extensions import db
from taper.models import Alert, DailyLog, User
from taper.services import audit, current_plans, logs, plans
from taper.services.current_plans import CurrentPlan

log = logging.getLogger(__name__)


def _card(plan: CurrentPlan, day: date, changed: bool) -> dict:
    """One plan's card: the dose in force on ``day``, what comes next, and any hold."""
    schedule = plan.schedule
    return {
        "plan": plan,
        "revision": plan.revision,
        "now": schedule.on(day),
        "next": next_change(schedule.steps, day, schedule.hold),
        # A hold or pause in force (even before the first step): what comes after it.
        "after_hold": schedule.after_hold(day),
        "hold": schedule.hold,
        "changed": changed,
        "waiting_from": _waiting_from(schedule),
    }


def _waiting_from(schedule: PlanSchedule) -> int | None:
    """The index of the first step that waits for the clinician to end an open hold or pause
    (its typed date has not come into force, and may be past), or None."""
    hold = schedule.hold
    if hold is None or not hold.open:
        return None
    periods = step_periods(schedule.steps, hold)
    return next((i for i, period in enumerate(periods) if period.pending), None)


@dataclass(frozen=True)
class UrgentReport:
    """The patient's latest urgent alert of the last week, as Today mentions it."""

    acknowledged_at: datetime | None


@cache
def _day_facts_statement() -> Select:
    """Whether a day is logged, and the latest urgent alert since a time (its id and when it
    was acknowledged): built once, only the parameters change."""
    urgent = (
        Alert.patient_id == bindparam("patient_id"),
        Alert.tier == "urgent",
        Alert.kind == "red_flag",  # what the patient reported, not a dose the team watches
        Alert.created_at >= bindparam("since", type_=Alert.created_at.type),
    )
    latest = (
        select(Alert.id)
        .where(*urgent)
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    logged = select(DailyLog.id).where(
        DailyLog.patient_id == bindparam("patient_id"), DailyLog.day == bindparam("day")
    )
    return select(
        logged.exists(),
        latest,
        select(Alert.acknowledged_at).where(Alert.id == latest).scalar_subquery(),
    )


def _day_facts(patient: User, day: date, since: date) -> tuple[bool, UrgentReport | None]:
    """Whether ``day`` is logged, and the latest urgent alert raised since ``since``: one
    statement, on the session's connection (nothing of Today's is pending in the ORM)."""
    # The patient's midnight starting ``since``, as a stored (UTC) moment.
    since_at = datetime.combine(since, time(0), ZoneInfo(patient.timezone)).astimezone(UTC)
    parameters = {"patient_id": patient.id, "day": day, "since": since_at}
    row = db.session.connection().execute(_day_facts_statement(), parameters).one()
    return bool(row[0]), (UrgentReport(row[2]) if row[1] is not None else None)


def _shown_cards(patient: User, day: date, *, notice: bool) -> list[dict]:
    """A card per running plan (active or paused), each viewing audited in one statement;
    with ``notice``, a plan whose revision the patient has not seen is marked changed (and
    is seen from now on)."""
    shown = current_plans.current_plans(patient)
    unseen = current_plans.mark_seen(patient, shown) if notice else set()
    audit.record_views(patient, "plan.view", "taper_plan", [(p.id, patient.id) for p in shown])
    return [_card(plan, day, plan.id in unseen) for plan in shown]


def today_page(patient: User, day: date) -> dict:
    """What Today shows on ``day``: a card per plan that is not completed (each viewing
    audited), whether the day is logged, and an urgent report of the last week; commits."""
    cards = _shown_cards(patient, day, notice=True)
    logged, urgent = _day_facts(patient, day, day - timedelta(days=7))
    db.session.commit()
    return {"cards": cards, "logged": logged, "urgent": urgent}


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
    cards = _shown_cards(patient, today, notice=False)
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
