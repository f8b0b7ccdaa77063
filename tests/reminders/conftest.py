"""Fixtures for the daily reminder: patients who opted in, with a plan, built through the
services the clinician's pages call (plans written and activated, so the timeline decides)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from taper.extensions import db
from taper.models import DailyLog, OutboxMessage, PlanStatus, ReminderSent, Role, User
from taper.services import plans, reminders
from tests.conftest import login_as
from tests.helpers import fill_log


def write_plan(
    app: Flask,
    clinician: User,
    patient: User,
    steps: list[tuple[date, str]],
    status: PlanStatus = PlanStatus.ACTIVE,
) -> int:
    """A plan typed by the clinician (start, daily total), activated (or left a draft,
    or completed); returns its id."""
    rows = [{"start": start.isoformat(), "total": total} for start, total in steps]
    with app.app_context():
        actor = db.session.get(User, clinician.id)
        owner = db.session.get(User, patient.id)
        plan = plans.create_plan(actor, owner, "diazepam", rows)
        db.session.flush()
        if status is not PlanStatus.DRAFT:
            plans.change_status(actor, plan, plan.version, PlanStatus.ACTIVE)
            db.session.flush()
        if status is PlanStatus.COMPLETED:
            plans.change_status(actor, plan, plan.version, PlanStatus.COMPLETED)
        db.session.commit()
        return plan.id


@pytest.fixture
def reminded(app, make_user, clinician) -> Callable[..., User]:
    """Factory: a patient on ``clinician``'s team with the reminder on at ``at`` (local) in
    ``timezone``, and an active plan in force since ``since`` (10 mg, never stopped), unless
    ``plan=False``."""

    def make(
        *,
        at: time = time(20, 0),
        timezone: str = "America/New_York",
        since: date = date(2026, 1, 1),
        plan: bool = True,
        on: bool = True,
        role: Role = Role.PATIENT,
        **fields,
    ) -> User:
        clinicians = (clinician,) if role is Role.PATIENT else ()
        user = make_user(
            role,
            timezone=timezone,
            reminder_on=on,
            reminder_at=at,
            clinicians=clinicians,
            **fields,
        )
        if plan:
            write_plan(app, clinician, user, [(since, "10")])
        return user

    return make


def send_due(app: Flask, now: datetime, **kwargs) -> int:
    """Run the job as the worker does: in an app context of its own."""
    with app.app_context():
        return reminders.send_due(now, **kwargs)


def reminders_of(app: Flask, patient: User | None = None) -> list[tuple[int, date]]:
    """The (patient, day) rows written so far."""
    query = select(ReminderSent.patient_id, ReminderSent.day).order_by(
        ReminderSent.patient_id, ReminderSent.day
    )
    if patient is not None:
        query = query.where(ReminderSent.patient_id == patient.id)
    with app.app_context():
        return [tuple(row) for row in db.session.execute(query)]


def outbox(app: Flask, patient: User | None = None) -> list[OutboxMessage]:
    """The reminder e-mails in the outbox (to ``patient`` when given), oldest first."""
    query = select(OutboxMessage).where(OutboxMessage.subject == reminders.SUBJECT)
    if patient is not None:
        query = query.where(OutboxMessage.to_email == patient.email)
    with app.app_context():
        rows = list(db.session.scalars(query.order_by(OutboxMessage.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def log_day(app: Flask, patient: User, day: date) -> None:
    """A daily log of ``day`` for the patient, posted through the log page as they would."""
    client = app.test_client()
    login_as(client, patient)
    response = client.post("/log", data=fill_log(client, day))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    with app.app_context():
        assert db.session.scalar(
            select(DailyLog.id).where(DailyLog.patient_id == patient.id, DailyLog.day == day)
        )


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


ONE_MINUTE = timedelta(minutes=1)
