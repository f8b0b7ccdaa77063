"""The daily reminder job (issue 16, item 1): ``reminders.send_due(now)`` queues one e-mail a
local day to each patient who opted in, whose reminder time has come, with a plan in force that
day and nothing logged yet; never to a deactivated account, a clinician or an admin."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from taper.extensions import db
from taper.models import PlanStatus, Role, TaperPlan, User
from taper.services import accounts, plans, reminders
from tests.conftest import login_as
from tests.helpers import patient_today
from tests.reminders.conftest import (
    ONE_MINUTE,
    log_day,
    outbox,
    reminders_of,
    send_due,
    utc,
    write_plan,
)

# 20:00 in New York on an ordinary day (EST, UTC-5): 01:00 UTC the next day.
EVENING = utc(2027, 1, 13, 1, 0)
EVENING_DAY = date(2027, 1, 12)


def test_a_due_patient_gets_one_email_with_a_link_and_no_health_details(app, reminded):
    patient = reminded()

    assert send_due(app, EVENING) == 1

    (message,) = outbox(app)
    assert message.to_email == patient.email
    assert message.subject == "Time for today's Taper check-in"
    assert "http://127.0.0.1:5000/log\n" in message.body
    assert "no health information" in message.body
    for detail in ("mg", "10", "diazepam", "score", patient.name):
        assert detail not in message.body
    assert message.alert_id is None
    assert reminders_of(app) == [(patient.id, EVENING_DAY)]


def test_nothing_before_the_time_and_the_email_as_soon_as_it_comes(app, reminded):
    patient = reminded(at=time(20, 0))

    assert send_due(app, EVENING - ONE_MINUTE) == 0
    assert send_due(app, EVENING) == 1
    assert reminders_of(app, patient) == [(patient.id, EVENING_DAY)]


def test_the_time_is_the_patients_own(app, reminded):
    """20:00 comes at 01:00 UTC in New York (EST), 09:00 UTC in Sydney (AEDT) and 20:00 UTC
    in London (GMT), each on its own local day."""
    new_york = reminded(timezone="America/New_York")
    sydney = reminded(timezone="Australia/Sydney")
    london = reminded(timezone="Europe/London")

    assert send_due(app, EVENING) == 1  # 20:00 on the 12th in New York only
    assert send_due(app, utc(2027, 1, 13, 8, 59)) == 0
    assert send_due(app, utc(2027, 1, 13, 9, 0)) == 1
    assert send_due(app, utc(2027, 1, 13, 19, 59)) == 0
    assert send_due(app, utc(2027, 1, 13, 20, 0)) == 1

    assert reminders_of(app) == [
        (new_york.id, date(2027, 1, 12)),
        (sydney.id, date(2027, 1, 13)),
        (london.id, date(2027, 1, 13)),
    ]


def test_run_twice_or_every_minute_one_email_a_day(app, reminded):
    patient = reminded()

    assert send_due(app, EVENING) == 1
    assert send_due(app, EVENING) == 0
    assert send_due(app, EVENING + timedelta(hours=3, minutes=59)) == 0  # 23:59 local

    assert len(outbox(app, patient)) == 1
    # The next evening is another day, and another e-mail.
    assert send_due(app, EVENING + timedelta(days=1)) == 1
    assert reminders_of(app, patient) == [
        (patient.id, EVENING_DAY),
        (patient.id, EVENING_DAY + timedelta(days=1)),
    ]


def test_a_day_already_logged_gets_none(app, reminded):
    """The log page saves the patient's real today, so the job runs at the real now, with a
    reminder time of 00:00 (always past)."""
    logged = reminded(at=time(0, 0), since=date(2026, 1, 1))
    not_logged = reminded(at=time(0, 0), since=date(2026, 1, 1))
    log_day(app, logged, patient_today(logged))

    assert send_due(app, datetime.now(UTC)) == 1

    assert [m.to_email for m in outbox(app)] == [not_logged.email]


def test_no_plan_in_force_that_day_gets_none(app, reminded, clinician):
    """None without a plan, with a draft, before the first step, after a completed plan, or
    once the last step (0 mg) has started: there is no dose to log."""
    no_plan = reminded(plan=False)
    draft = reminded(plan=False)
    write_plan(app, clinician, draft, [(date(2026, 1, 1), "10")], status=PlanStatus.DRAFT)
    not_started = reminded(since=EVENING_DAY + timedelta(days=1))
    completed = reminded(plan=False)
    write_plan(app, clinician, completed, [(date(2026, 1, 1), "10")], PlanStatus.COMPLETED)
    stopped = reminded(plan=False)
    write_plan(app, clinician, stopped, [(date(2026, 11, 1), "2"), (date(2026, 12, 1), "0")])
    running = reminded()

    assert send_due(app, EVENING) == 1

    assert [m.to_email for m in outbox(app)] == [running.email]
    assert {no_plan.id, draft.id, not_started.id, completed.id, stopped.id}.isdisjoint(
        dict(reminders_of(app))
    )


def test_a_plan_that_starts_tomorrow_reminds_from_tomorrow(app, reminded):
    patient = reminded(since=EVENING_DAY + timedelta(days=1))

    assert send_due(app, EVENING) == 0
    assert send_due(app, EVENING + timedelta(days=1)) == 1
    assert reminders_of(app, patient) == [(patient.id, EVENING_DAY + timedelta(days=1))]


@pytest.mark.parametrize(
    ("path", "fields", "status"),
    [("hold", {"until": ""}, "held"), ("status", {"status": "paused"}, "paused")],
)
def test_a_held_or_paused_dose_still_gets_the_reminder(
    app, client, clinician, reminded, path, fields, status
):
    """On hold or paused the patient still takes the dose in force and logs the day (the
    log page asks about it): the reminder goes."""
    patient = reminded(at=time(0, 0))
    today = patient_today(patient)
    with app.app_context():
        plan = plans.plans_for_patient(db.session.get(User, patient.id), include_drafts=False)[0]
        plan_id, version = plan.id, plan.version
    login_as(client, clinician)
    change = {
        "reason": "Settling",
        "version": str(version),
        "confirm": "1",
        "day": today.isoformat(),
        **fields,
    }
    assert client.post(f"/clinician/plans/{plan_id}/{path}", data=change).status_code == 302
    with app.app_context():
        schedule = plans.schedules_for(db.session.get(User, patient.id))[0]
    assert schedule.on(today).status == status

    assert send_due(app, datetime.now(UTC)) == 1


def test_reminder_off_deactivated_clinician_or_admin_gets_none(app, reminded, admin):
    off = reminded(on=False)
    gone = reminded()
    with app.app_context():
        accounts.deactivate_account(db.session.get(User, admin.id), db.session.get(User, gone.id))
    clinician = reminded(role=Role.CLINICIAN, plan=False)
    an_admin = reminded(role=Role.ADMIN, plan=False)
    on = reminded()

    assert send_due(app, EVENING) == 1

    assert [m.to_email for m in outbox(app)] == [on.email]
    assert {off.id, gone.id, clinician.id, an_admin.id}.isdisjoint(dict(reminders_of(app)))


# "America" is a folder of zones, not one: ZoneInfo raises IsADirectoryError for it, which
# once escaped the fallback and failed the whole job on every run.
@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "America"])
def test_an_unreadable_time_zone_skips_that_patient_only(app, reminded, caplog, zone):
    broken = reminded(timezone=zone)
    fine = reminded()

    assert send_due(app, EVENING) == 1

    assert [m.to_email for m in outbox(app)] == [fine.email]
    assert f"patient {broken.id} has an unknown time zone" in caplog.text


def test_batches_cover_every_patient(app, reminded):
    patients = [reminded() for _ in range(7)]

    assert send_due(app, EVENING, batch_size=3) == 7

    assert sorted(dict(reminders_of(app))) == sorted(p.id for p in patients)
    assert send_due(app, EVENING, batch_size=3) == 0


def _statements(count_queries, app, now, **kwargs) -> tuple[int, list[str]]:
    with count_queries() as statements:
        queued = send_due(app, now, **kwargs)
    return queued, statements


def _reads(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_a_batch_reads_in_a_fixed_number_of_queries(app, reminded, count_queries):
    """The reads of a batch do not grow with its patients: 3 patients or 12, the same
    queries; each e-mail adds only its own writes (its row in a savepoint, its message)."""
    for _ in range(3):
        reminded()
    queued, few = _statements(count_queries, app, EVENING)
    assert queued == 3
    for _ in range(12):
        reminded()
    queued, many = _statements(count_queries, app, EVENING + timedelta(days=1))
    assert queued == 15

    assert len(_reads(many)) == len(_reads(few))
    writes_per_email = (len(many) - len(few)) / 12
    assert writes_per_email == int(writes_per_email) <= 4
    # Run again: nothing due, and still the same reads, no writes.
    queued, again = _statements(count_queries, app, EVENING + timedelta(days=1))
    assert queued == 0
    assert len(_reads(again)) == len(_reads(many))
    assert not [s for s in again if s.lstrip().upper().startswith(("INSERT", "SAVEPOINT"))]


def test_two_workers_at_once_queue_one_email(shared_app):
    """Two workers run the job at the same instant on the same database: one e-mail each
    patient, one row each, both runs finish without an error."""
    app = shared_app
    patients = []
    with app.app_context():
        team = accounts.create_user(
            None, email="dr@race.example.org", name="Dr R", role=Role.CLINICIAN
        )
        for n in range(5):
            patient = accounts.create_user(
                None,
                email=f"p{n}@race.example.org",
                name=f"P {n}",
                role=Role.PATIENT,
                timezone="America/New_York",
            )
            patient.reminder_on = True
            accounts.add_to_care_team(None, team, patient)
            patients.append(patient)
        db.session.commit()
        for patient in patients:
            db.session.refresh(patient)
            db.session.expunge(patient)
        db.session.refresh(team)
        db.session.expunge(team)
    for patient in patients:
        write_plan(app, team, patient, [(date(2026, 1, 1), "10")])
    results: list[int] = []
    errors: list[BaseException] = []
    with app.app_context():
        engine = db.engine
    # Both workers have read "nobody reminded yet"; each waits at its first insert for the
    # other, so the two inserts race for the same rows.
    at_insert, waited = threading.Barrier(2, timeout=20), threading.local()

    def meet_at_first_insert(_conn, _cursor, statement, *_args):
        if "INSERT INTO reminder_sent" in statement and not getattr(waited, "done", False):
            waited.done = True
            at_insert.wait()

    def run():
        try:
            with app.app_context():
                results.append(reminders.send_due(EVENING))
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    event.listen(engine, "before_cursor_execute", meet_at_first_insert)
    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        event.remove(engine, "before_cursor_execute", meet_at_first_insert)

    assert not errors, errors
    assert sorted(results) == [0, 5]  # the second worker lost every race, and queued none
    assert len(outbox(app)) == 5
    assert sorted(dict(reminders_of(app))) == sorted(p.id for p in patients)


def test_a_plan_the_timeline_cannot_read_skips_only_its_patient(app, reminded, monkeypatch, caplog):
    broken, fine = reminded(), reminded()
    with app.app_context():
        broken_plan = db.session.scalar(
            select(TaperPlan.id).where(TaperPlan.patient_id == broken.id)
        )
    real = reminders.timeline.in_force

    def in_force(schedules, day):
        if any(schedule.plan_id == broken_plan for schedule in schedules):
            raise OverflowError("date value out of range")
        return real(schedules, day)

    monkeypatch.setattr(reminders.timeline, "in_force", in_force)

    assert send_due(app, EVENING) == 1

    assert [m.to_email for m in outbox(app)] == [fine.email]
    assert f"patient {broken.id} has a plan that cannot be read" in caplog.text


def test_a_failing_batch_is_queued_again_one_patient_at_a_time(app, reminded, monkeypatch, caplog):
    """Any other error in a batch: each of its patients on their own, so one patient's
    failure costs only their own reminder; the job then fails, to run again."""
    patients = [reminded() for _ in range(4)]
    broken = patients[1]
    real = reminders._queue_batch

    def queue_batch(batch, now):
        queued = real(batch, now)  # its rows are written, then the batch fails
        if any(patient.id == broken.id for patient in batch):
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return queued

    monkeypatch.setattr(reminders, "_queue_batch", queue_batch)
    with pytest.raises(RuntimeError, match="1 patient"):
        send_due(app, EVENING, batch_size=2)

    others = sorted(p.email for p in patients if p is not broken)
    assert sorted(m.to_email for m in outbox(app)) == others
    assert f"reminders for patients {patients[0].id} to {patients[1].id} failed" in caplog.text
    monkeypatch.setattr(reminders, "_queue_batch", real)
    assert send_due(app, EVENING, batch_size=2) == 1  # the rerun: only the one left


def test_the_command_queues_what_is_due_for_cron(app, reminded):
    """`flask reminders send`, for a deployment that runs the jobs from cron: the same one
    e-mail a day, however often it runs."""
    from taper.models import OutboxMessage

    reminded(at=time(0, 0), timezone="UTC")
    runner = app.test_cli_runner()
    first = runner.invoke(args=["reminders", "send"])
    again = runner.invoke(args=["reminders", "send"])
    assert first.exit_code == 0, first.output
    assert "Reminders queued: 1" in first.output
    assert "Reminders queued: 0" in again.output
    with app.app_context():
        assert len(db.session.scalars(select(OutboxMessage)).all()) == 1
