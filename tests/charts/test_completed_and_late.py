"""What a chart draws of a plan completed on a known day (its doses up to the day before,
never the steps typed for later), of a red flag the device kept and sent late (the day it
was sent), and the report's revision dates in the patient's own days."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import (
    PlanRevision,
    PlanStatus,
    RedFlagReport,
    Role,
    TaperPlan,
    TaperStep,
    User,
)
from taper.services import progress
from tests.charts.stored import store_plan
from tests.helpers import patient_today


def _completed(app, patient, clinician, steps, ended_days_ago: int, hold=None) -> int:
    today = patient_today(patient)
    typed = [(today + timedelta(days=offset), dose) for offset, dose in steps]
    plan_id = store_plan(app, patient, clinician, typed, status=PlanStatus.COMPLETED, hold=hold)
    with app.app_context():
        db.session.get(TaperPlan, plan_id).completed_on = today - timedelta(days=ended_days_ago)
        db.session.commit()
    return plan_id


def _series(app, patient, range_name="plan"):
    with app.app_context():
        data = progress.progress_data(db.session.get(User, patient.id), range_name, simple=False)
    (series,) = data.plans
    return data, series


def test_steps_typed_for_after_completion_are_not_drawn(app, clinician, patient):
    """Completed 25 days ago, early: the 5 mg and 2.5 mg steps typed for later never ran."""
    _completed(app, patient, clinician, [(-40, "10"), (-20, "5"), (10, "2.5")], 25)
    today = patient_today(patient)
    data, series = _series(app, patient)
    assert [(p.day, p.dose) for p in series.schedule] == [
        (today - timedelta(days=40), Decimal("10"))
    ]
    assert series.line_end == today - timedelta(days=26)  # the day before it was completed
    assert series.open_from is None
    assert data.end <= today  # not on into the weeks of the steps that never ran


def test_the_last_dose_is_drawn_up_to_completion(app, clinician, patient):
    """5 mg from 20 days ago, completed 5 days ago: 15 days of 5 mg, not a zero-length step."""
    _completed(app, patient, clinician, [(-40, "10"), (-20, "5")], 5)
    _, series = _series(app, patient)
    assert series.schedule[-1].dose == Decimal("5")
    assert series.line_end == patient_today(patient) - timedelta(days=6)


def test_an_open_hold_is_shaded_up_to_completion(app, clinician, patient):
    today = patient_today(patient)
    _completed(
        app,
        patient,
        clinician,
        [(-40, "10"), (-30, "7.5"), (-10, "5")],
        5,
        hold=(today - timedelta(days=20), None, "hold"),
    )
    _, series = _series(app, patient)
    (hold,) = series.holds
    assert hold[:2] == (today - timedelta(days=20), today - timedelta(days=6))
    assert series.line_end == today - timedelta(days=6)
    assert series.schedule[-1].dose == Decimal("7.5")  # held: the 5 mg step never came


def test_a_dated_hold_is_shaded_up_to_completion_not_to_its_end(app, clinician, patient):
    today = patient_today(patient)
    _completed(
        app,
        patient,
        clinician,
        [(-40, "10"), (-30, "7.5"), (20, "5")],
        5,
        hold=(today - timedelta(days=20), today + timedelta(days=10), "hold"),
    )
    _, series = _series(app, patient, "30")
    (hold,) = series.holds
    assert series.line_end == today - timedelta(days=6)
    assert hold[1] == series.line_end


def test_a_red_flag_sent_late_is_shown_on_the_day_it_was_sent(app, patient):
    sent = datetime.now(UTC) - timedelta(days=3)
    with app.app_context():
        db.session.add(
            RedFlagReport(
                patient_id=patient.id,
                flags=["seizure"],
                submission_id="k" * 32,
                source="kept",
                reported_at=sent,
            )
        )
        db.session.commit()
    with app.app_context():
        data = progress.progress_data(db.session.get(User, patient.id), "30", simple=False)
    assert data.red_flag_days == (local_today(sent, patient.timezone),)


def test_the_reports_revision_dates_are_the_patients_days(app, make_user, clinician):
    patient = make_user(Role.PATIENT, clinicians=(clinician,), timezone="Pacific/Auckland")
    # 20:00 UTC is the next morning in Auckland
    saved = datetime.now(UTC).replace(hour=20, minute=0, second=0, microsecond=0)
    saved -= timedelta(days=2)
    local = local_today(saved, patient.timezone)
    assert local != saved.date()
    with app.app_context():
        plan = TaperPlan(
            patient_id=patient.id,
            medication="diazepam",
            created_by_id=clinician.id,
            status=PlanStatus.ACTIVE,
        )
        revision = PlanRevision(
            plan=plan,
            number=1,
            author_id=clinician.id,
            reason="start",
            created_at=saved,
            steps=[TaperStep(start_date=local - timedelta(days=10), total=Decimal(10), note="")],
        )
        db.session.add_all([plan, revision])
        db.session.flush()
        plan.current_revision = revision
        db.session.commit()
        report = progress.report_data(db.session.get(User, patient.id))
    (line,) = report.revisions
    assert f"1. {local.isoformat()} " in line
