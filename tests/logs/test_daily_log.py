"""The daily log: one per day, corrections kept, bad input refused with answers kept."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from taper.extensions import db
from taper.models import Alert, AuditEvent, DailyLog, LogDose
from tests.conftest import login_as
from tests.helpers import fill_log, log_form, patient_today, submission_of


def rows(app, model, **where):
    with app.app_context():
        query = select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return db.session.scalars(query).all()


def test_patient_logs_a_normal_day(client, app, patient, active_plan):
    login_as(client, patient)
    page = client.get("/log").get_data(as_text=True)
    assert "Did you take your diazepam as scheduled today: 7.5 mg?" in page
    today = patient_today(patient)
    data = log_form(today, plans={active_plan: "7.5"}, submission=submission_of(page))
    response = client.post("/log", data=data)
    # Post, redirect, get: the confirmation of what was saved (a reload never resubmits).
    assert response.headers["Location"] == f"/log/saved?day={today.isoformat()}"
    (entry,) = rows(app, DailyLog)
    assert entry.day == today
    assert entry.patient_total == 17
    assert entry.version == 1
    (dose,) = rows(app, LogDose)
    assert (dose.log_id, dose.plan_id, dose.medication, dose.unit) == (
        entry.id,
        active_plan,
        "diazepam",
        "mg",
    )
    assert dose.took_as_scheduled is True
    assert dose.dose_taken == dose.dose_scheduled == Decimal("7.5")
    assert rows(app, Alert) == []
    assert rows(app, AuditEvent, action="log.save")
    assert "You have logged today." in client.get("/today").get_data(as_text=True)


def test_saving_the_same_day_again_is_a_correction_that_keeps_the_first(
    client, app, patient, active_plan
):
    login_as(client, patient)
    today = patient_today(patient)
    client.post("/log", data=fill_log(client, score=1, took="no", dose_taken="10", note="first"))
    page = client.get("/log").get_data(as_text=True)
    assert 'value="1" checked' in page  # the correction starts from what was said
    assert f'id="took_{active_plan}-no" name="took_{active_plan}" value="no" checked' in page
    assert f'name="dose_taken_{active_plan}" autocomplete="off" value="10"' in page
    client.post("/log", data=fill_log(client, score=2, note="second"))
    versions = sorted(rows(app, DailyLog), key=lambda e: e.version)
    assert [(v.version, v.patient_total, v.note) for v in versions] == [
        (1, 17, "first"),
        (2, 34, "second"),
    ]
    history = client.get("/history").get_data(as_text=True)
    assert "Yes (2 versions)" in history
    day_page = client.get(f"/history/{today.isoformat()}").get_data(as_text=True)
    assert "Current version 2" in day_page
    assert "Earlier version 1" in day_page


def test_double_submit_saves_once(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client)
    saved = f"/log/saved?day={patient_today(patient).isoformat()}"
    assert client.post("/log", data=data).headers["Location"] == saved
    again = client.post("/log", data=data, follow_redirects=True)
    assert "already saved" in again.get_data(as_text=True)
    assert len(rows(app, DailyLog)) == 1
    assert len(rows(app, LogDose)) == 1


@pytest.mark.parametrize("days_back", [1, 2])
def test_yesterday_and_the_day_before_can_be_logged(client, app, patient, active_plan, days_back):
    login_as(client, patient)
    day = patient_today(patient) - timedelta(days=days_back)
    assert client.post("/log", data=fill_log(client, day)).status_code == 302
    assert rows(app, DailyLog)[0].day == day
    assert rows(app, LogDose)[0].dose_scheduled == Decimal("7.5")


BAD = [
    ("irritable", "-1", "irritable", "Choose an answer from 0"),
    ("irritable", "5", "irritable", "Choose an answer from 0"),
    ("tense", "NaN", "tense", "Choose an answer from 0"),
    ("tense", "ten", "tense", "Choose an answer from 0"),
    ("tense", "2.5", "tense", "Choose an answer from 0"),
    ("sleep_hours", "NaN", "sleep_hours", "Enter a number of hours"),
    ("sleep_hours", "25", "sleep_hours", "Enter a number of hours"),
    ("sleep_hours", "1e309", "sleep_hours", "Enter a number of hours"),
    ("note", "a\x00b", "note", "cannot be saved"),
    ("note", "x" * 10 * 1024 * 1024, "note", "Keep the note under 2000"),
    ("took_{plan}", "", "took_{plan}", "Choose Yes or No"),
    ("took_{plan}", "maybe", "took_{plan}", "Choose Yes or No"),
    ("shown_{plan}", "", "took_{plan}", "did not ask about your diazepam"),
    ("shown_{plan}", "NaN", "took_{plan}", "did not ask about your diazepam"),
    ("shown_{plan}", "10", "took_{plan}", "The form showed 10 mg of diazepam"),
]


@pytest.mark.parametrize(("field", "value", "error_key", "message"), BAD)
def test_bad_values_are_refused_beside_the_field_and_answers_kept(
    client, app, patient, active_plan, field, value, error_key, message
):
    login_as(client, patient)
    field, error_key = field.format(plan=active_plan), error_key.format(plan=active_plan)
    data = fill_log(client, score=3, note="I felt <b>shaky</b>")
    data[field] = value
    response = client.post("/log", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'id="{error_key}-error"' in page
    assert message in page
    assert rows(app, DailyLog) == []
    kept = [k for k in ("fatigued", "anxious", "worry") if k != field]
    for key in kept:
        assert f'id="{key}-3" name="{key}" value="3" checked' in page
    if field != "note":
        assert "I felt &lt;b&gt;shaky&lt;/b&gt;" in page


@pytest.mark.parametrize(("days", "message"), [(3, "the day before"), (-1, "not happened yet")])
def test_days_outside_the_window_are_refused(client, app, patient, active_plan, days, message):
    login_as(client, patient)
    data = log_form(patient_today(patient) - timedelta(days=days), plans={active_plan: "7.5"})
    response = client.post("/log", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'id="day-error"' in page
    # The form comes back for today, saying so, with today's dose question.
    assert f'name="day" value="{patient_today(patient).isoformat()}"' in page
    assert "Did you take your diazepam as scheduled today: 7.5 mg?" in page
    assert rows(app, DailyLog) == []


def test_a_different_dose_needs_the_amount_and_raises_a_review_alert(
    client, app, patient, active_plan
):
    login_as(client, patient)
    data = fill_log(client, took="no", dose_taken="")
    response = client.post("/log", data=data)
    assert response.status_code == 400
    assert f'id="dose_taken_{active_plan}-error"' in response.get_data(as_text=True)
    data = fill_log(client, took="no", dose_taken="10")
    assert client.post("/log", data=data).status_code == 302
    (alert,) = rows(app, Alert)
    assert (alert.kind, alert.tier, alert.plan_id) == ("dose_deviation", "review", active_plan)
    assert alert.reason == "Diazepam: took 10 mg; scheduled 7.5 mg"
    (dose,) = rows(app, LogDose)
    assert (dose.took_as_scheduled, dose.dose_taken, dose.dose_scheduled) == (
        False,
        Decimal("10"),
        Decimal("7.5"),
    )


def test_missing_answers_are_all_marked(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client)
    for key in ("irritable", "worry"):
        del data[key]
    page = client.post("/log", data=data).get_data(as_text=True)
    assert 'id="irritable-error"' in page
    assert 'id="worry-error"' in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DailyLog)) == 0


def test_without_a_plan_the_dose_question_is_skipped(client, app, patient):
    login_as(client, patient)
    page = client.get("/log").get_data(as_text=True)
    assert "Did you take your dose" not in page
    assert client.post("/log", data=log_form(patient_today(patient))).status_code == 302
    assert len(rows(app, DailyLog)) == 1
    assert rows(app, LogDose) == []
