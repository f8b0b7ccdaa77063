"""Red flags sent without a daily log ("I need help now", or ticked on a day already saved)
are on the log pages both roles read: the history and that day's page, which the urgent
alert's "See the logs" link leads to."""

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import AuditEvent, RedFlagReport
from tests.conftest import login_as
from tests.helpers import fill_log, patient_today

SEIZURE = "A seizure or fit"


def _help(client, **fields):
    page = client.get("/help").get_data(as_text=True)
    token = re.search(r'name="submission_id" value="(\w+)"', page).group(1)
    return client.post("/help", data={"submission_id": token, **fields})


def _logs_row(page: str, heading: str) -> str:
    return page.split(heading, 1)[1]


def test_a_flag_added_to_a_saved_day_is_on_the_clinicians_history_and_day_page(
    app, client, clinician, patient, active_plan
):
    login_as(client, patient)
    data = fill_log(client)
    assert client.post("/log", data=data).status_code == 302
    client.post("/log", data=dict(data, red_flags=["seizure"], red_flags_when="now"))
    day = patient_today(patient).isoformat()
    doctor = app.test_client()
    login_as(doctor, clinician)

    history = doctor.get(f"/clinician/patients/{patient.id}/logs").get_data(as_text=True)
    page = doctor.get(f"/clinician/patients/{patient.id}/logs/{day}").get_data(as_text=True)

    sent = _logs_row(history, "Red flags sent without a daily log")
    assert SEIZURE in sent.split("Logged days")[0]
    assert "(happening now)" in sent
    assert "the daily log, sent at once" in sent
    assert SEIZURE in _logs_row(page, "Red flags sent without a daily log")
    assert "Current version 1" in page  # the day's log is still there too


def test_a_help_message_on_a_day_without_a_log_has_a_day_page(app, client, clinician, patient):
    login_as(client, patient)
    _help(client, red_flags="seizure", note="Shaking on the kitchen floor")
    day = patient_today(patient).isoformat()
    doctor = app.test_client()
    login_as(doctor, clinician)

    response = doctor.get(f"/clinician/patients/{patient.id}/logs/{day}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "No daily log was saved for this day." in page
    assert SEIZURE in page
    assert "Shaking on the kitchen floor" in page
    assert "I need help now" in page
    with app.app_context():
        (report_id,) = db.session.scalars(select(RedFlagReport.id)).all()
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.object_type, event.object_id) == (
        "log.view",
        "red_flag_report",
        report_id,
    )
    history = doctor.get(f"/clinician/patients/{patient.id}/logs").get_data(as_text=True)
    assert "Shaking on the kitchen floor" in history
    assert "No days logged yet (red flags sent on their own are above)." in history
    # The patient reads the same on their own history.
    assert SEIZURE in client.get("/history").get_data(as_text=True)
    assert doctor.get(f"/clinician/patients/{patient.id}/logs/2000-01-01").status_code == 404


def test_a_report_kept_on_the_device_is_on_the_day_it_was_sent(app, client, clinician, patient):
    sent = datetime.now(UTC) - timedelta(days=3)
    with app.app_context():
        db.session.add(
            RedFlagReport(
                patient_id=patient.id,
                flags=["confusion"],
                submission_id="k" * 32,
                source="kept",
                reported_at=sent,
            )
        )
        db.session.commit()
    day = local_today(sent, patient.timezone).isoformat()
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/logs/{day}").get_data(as_text=True)
    assert "kept on the device and sent late" in page
    today = patient_today(patient).isoformat()
    assert client.get(f"/clinician/patients/{patient.id}/logs/{today}").status_code == 404
