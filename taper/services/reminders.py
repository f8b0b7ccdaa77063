"""The patient's daily reminder e-mail: opting in or out, and queuing the day's reminders.

A patient who opted in gets one e-mail a local day, at the local time they chose, when a plan
is in force that day (``timeline.in_force``: started, not stopped at 0 mg; a held or paused
day counts, since the patient still takes the dose and logs it) and the day is not logged yet.
The e-mail holds no health details: a line and a link to the log page.

``send_due`` runs as a periodic job (the job registry calls it every
REMINDERS_EVERY_SECONDS); it is safe to run twice, or on two workers at once."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import select

from taper.domain import timeline
from taper.domain.timeline import PlanSchedule
from taper.extensions import db
from taper.models import (
    DailyLog,
    ReminderSent,
    Role,
    TaperPlan,
    User,
)
from taper.services import ServiceError, audit, committed, notify, plans
from taper.services.savepoint import insert_once

log = logging.getLogger(__name__)
BATCH_SIZE = 200
SUBJECT = "Time for today's Taper check-in"
TIME_ERROR = "Enter a time on the 24-hour clock, like 20:00 for 8 in the evening."
CHOICE_ERROR = "Choose whether you want the reminder e-mail."
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::[0-5][0-9])?")


# --- the patient's choice -------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A reminder setting: on or off, and the local time it goes at."""

    on: bool
    at: time


def parse_choice(on: str | None, at: str | None) -> Choice:
    """The reminder form's answers ("on"/"off", "HH:MM") as a Choice; ServiceError naming the
    field ("on" or "at") otherwise. The time is checked even when the reminder is off, so a
    time typed now is right when it is turned on later."""
    if on not in ("on", "off"):
        raise ServiceError(CHOICE_ERROR, "on")
    found = _TIME.fullmatch((at or "").strip())
    if found is None:
        raise ServiceError(TIME_ERROR, "at")
    return Choice(on == "on", time(int(found[1]), int(found[2])))


def choice_of(patient: User) -> Choice:
    """The patient's reminder setting as stored."""
    return Choice(patient.reminder_on, patient.reminder_at)


def set_reminder(actor: User, patient: User, choice: Choice) -> bool:
    """Store a patient's own reminder setting and audit it; False when it was already that.
    Only the patient may (the reminder is about their own inbox): a clinician or an admin is
    refused, whoever's account it is."""
    if actor.id != patient.id or patient.role is not Role.PATIENT:
        raise ServiceError("Only a patient can set their own reminder.", "on")
    if choice == choice_of(patient):
        return False
    patient.reminder_on, patient.reminder_at = choice.on, choice.at
    audit.record(
        actor,
        "user.reminder_change",
        "user",
        patient.id,
        patient_id=patient.id,
        summary={"on": choice.on, "at": choice.at.strftime("%H:%M")},
    )
    return True


def change_reminder(actor: User, patient: User, on: str | None, at: str | None) -> bool:
    """Parse and store the reminder form's answers, committed; True when something changed."""
    return committed(lambda: set_reminder(actor, patient, parse_choice(on, at)))


# --- queuing the day's reminders ------------------------------------------------------------


def due_day(patient: User, now: datetime) -> date | None:
    """The patient's local day when their local clock has reached their reminder time today
    (None before it, or for a time zone that cannot be read).

    Wall-clock time is compared, so daylight saving needs no special case: a time in the hour
    skipped in spring is passed as the clock jumps over it; a time in the hour repeated in
    autumn is reached twice, and the (patient, day) row keeps it to one e-mail."""
    try:
        local = now.astimezone(ZoneInfo(patient.timezone))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, "America"
        log.warning("reminder skipped: patient %s has an unknown time zone", patient.id)
        return None
    if local.time() < patient.reminder_at:
        return None
    return local.date()


def message_body() -> str:
    """The reminder's text: no name, dose or score, only where to log."""
    url = current_app.config["PUBLIC_URL"].rstrip("/")
    return (
        "Hello,\n\n"
        "It is time for today's check-in in Taper. It takes about a minute:\n"
        f"{url}/log\n\n"
        "You get this e-mail because you turned on the daily reminder. To change its time or "
        f"turn it off, go to My details: {url}/account/details\n\n"
        "This message contains no health information.\n"
    )


def _patients_after(after_id: int, limit: int) -> list[User]:
    """The next patients (by id) who want the reminder and can sign in."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.id > after_id,
                User.role == Role.PATIENT,
                User.active.is_(True),
                User.reminder_on.is_(True),
            )
            .order_by(User.id)
            .limit(limit)
        )
    )


def _schedules(patient_ids: Sequence[int]) -> dict[int, list[PlanSchedule]]:
    """The running (active or paused) plans of these patients as the timeline sees them,
    oldest first, in a fixed number of queries (``plans.running_plans``)."""
    rows = db.session.scalars(plans.running_plans().where(TaperPlan.patient_id.in_(patient_ids)))
    return {patient.id: schedules for patient, schedules in plans.per_patient(rows)}


def _done(days: dict[int, date]) -> set[tuple[int, date]]:
    """The (patient, day) pairs among ``days`` already logged or already reminded."""
    ids, first, last = list(days), min(days.values()), max(days.values())
    found: set[tuple[int, date]] = set()
    for model in (DailyLog, ReminderSent):
        found.update(
            db.session.execute(
                select(model.patient_id, model.day)
                .where(model.patient_id.in_(ids), model.day.between(first, last))
                .distinct()
            ).tuples()
        )
    return {(patient_id, day) for patient_id, day in found if days[patient_id] == day}


def _plan_in_force(patient_id: int, schedules: list[PlanSchedule], day: date) -> bool:
    """Whether a plan is in force that day; one patient's odd stored plan is logged and
    skipped, never the end of everyone else's reminders."""
    try:
        return bool(timeline.in_force(schedules, day))
    except (ValueError, OverflowError):
        log.exception("reminder skipped: patient %s has a plan that cannot be read", patient_id)
        return False


def _due(patients: Sequence[User], now: datetime) -> dict[int, date]:
    """Each patient of the batch whose reminder is due now, with their local day: the time
    reached, a plan in force that day, not logged and not reminded yet."""
    days = {p.id: day for p in patients if (day := due_day(p, now)) is not None}
    if not days:
        return {}
    schedules = _schedules(list(days))
    days = {
        patient_id: day
        for patient_id, day in days.items()
        if _plan_in_force(patient_id, schedules.get(patient_id, []), day)
    }
    if not days:
        return {}
    done = _done(days)
    return {patient_id: day for patient_id, day in days.items() if (patient_id, day) not in done}


def _queue_batch(patients: Sequence[User], now: datetime) -> int:
    """Queue the batch's due reminders in the caller's transaction; how many were queued."""
    due = _due(patients, now)
    by_id = {p.id: p for p in patients}
    body = message_body() if due else ""
    queued = 0
    for patient_id, day in due.items():
        # The row first: a worker that lost the race for it queues nothing.
        if insert_once(ReminderSent(patient_id=patient_id, day=day)):
            notify.queue(by_id[patient_id].email, SUBJECT, body)
            queued += 1
    return queued


def send_due(now: datetime, *, batch_size: int = BATCH_SIZE) -> int:
    """Queue today's reminder e-mail (through the outbox) for every patient who is due: at
    most one per patient and local day, whoever runs this and however often. Patients are read
    in batches by id, each batch in a fixed number of queries and committed on its own; each
    e-mail adds its row (in a savepoint) and its outbox message. Returns how many were queued."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    queued, after, failed = 0, 0, 0
    while patients := _patients_after(after, batch_size):
        after = patients[-1].id  # read before a rollback expires the rows
        count = _queue_committed(patients, now)
        if count is None:  # the batch failed: each of its patients on their own
            counts = [_queue_committed([patient], now) for patient in patients]
            failed += counts.count(None)
            count = sum(c for c in counts if c is not None)
        queued += count
        if len(patients) < batch_size:
            break
    if queued:
        log.info("reminders queued=%s", queued)
    if failed:
        raise RuntimeError(f"reminders failed for {failed} patient(s); the others were queued")
    return queued


def _queue_committed(patients: Sequence[User], now: datetime) -> int | None:
    """Queue and commit these patients' due reminders: how many, or None (rolled back and
    logged) when that failed."""
    ids = [patient.id for patient in patients]
    try:
        count = _queue_batch(patients, now)
        db.session.commit()
    except Exception as error:  # noqa: BLE001  (one patient must not stop the others)
        db.session.rollback()
        log.error(
            "reminders for patients %s to %s failed (%s)", ids[0], ids[-1], type(error).__name__
        )
        return None
    return count
