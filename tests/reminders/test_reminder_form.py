"""Opting in or out of the daily reminder on "My details" (issue 16, item 1): off until the
patient turns it on, a local time (20:00 unless they choose another), errors beside the field
with the other answers kept, an audit row for each change, and only the patient themself."""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import AuditEvent, Role, User
from taper.services import ServiceError, reminders
from tests.conftest import login_as
from tests.helpers import field_error

ON_CHECKED = 'checked id="reminder-on-1" name="reminder-on" type="radio" value="on"'
OFF_CHECKED = 'checked id="reminder-on-0" name="reminder-on" type="radio" value="off"'


def setting(app, user) -> tuple[bool, time]:
    with app.app_context():
        stored = db.session.get(User, user.id)
        return stored.reminder_on, stored.reminder_at


def reminder_audits(app) -> list[tuple[int, int | None, dict]]:
    with app.app_context():
        return [
            (row.actor_id, row.patient_id, row.summary)
            for row in db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "user.reminder_change")
                .order_by(AuditEvent.id)
            )
        ]


def post(client, on="on", at="20:00", **extra):
    data = {"reminder-on": on, "reminder-at": at, **extra}
    return client.post("/account/reminder", data=data)


def test_a_new_patient_has_it_off_at_20_00_and_the_page_says_why(app, client, patient):
    assert setting(app, patient) == (False, time(20, 0))
    login_as(client, patient)

    page = client.get("/account/details").get_data(as_text=True)

    assert "Daily reminder e-mail" in page
    assert "anyone who can read your e-mail will see that Taper writes to you" in page
    assert OFF_CHECKED in page
    assert 'type="time" value="20:00"' in page
    assert '<label for="reminder-at">Time of the reminder</label>' in page
    assert 'action="/account/reminder"' in page


def test_turning_it_on_at_a_chosen_time_is_stored_and_audited(app, client, patient):
    login_as(client, patient)

    response = post(client, "on", "07:45")

    assert response.status_code == 302
    assert response.headers["Location"] == "/account/details"
    assert setting(app, patient) == (True, time(7, 45))
    assert reminder_audits(app) == [(patient.id, patient.id, {"on": True, "at": "07:45"})]
    page = client.get("/account/details").get_data(as_text=True)
    assert "Your reminder is on: an e-mail at 07:45 your time" in page
    assert ON_CHECKED in page
    assert 'type="time" value="07:45"' in page


def test_turning_it_off_again_keeps_the_time(app, client, patient):
    login_as(client, patient)
    post(client, "on", "21:15")

    assert post(client, "off", "21:15").status_code == 302

    assert setting(app, patient) == (False, time(21, 15))
    assert [summary for *_, summary in reminder_audits(app)] == [
        {"on": True, "at": "21:15"},
        {"on": False, "at": "21:15"},
    ]
    page = client.get("/account/details").get_data(as_text=True)
    assert "Your reminder is off" in page


def test_saving_the_same_answers_changes_nothing(app, client, patient):
    login_as(client, patient)

    response = post(client, "off", "20:00")

    assert response.status_code == 302
    assert reminder_audits(app) == []
    assert "Nothing changed." in client.get("/account/details").get_data(as_text=True)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("8:05", time(8, 5)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        (" 20:30:59 ", time(20, 30)),
    ],
)
def test_times_a_browser_or_a_person_may_send(app, client, patient, typed, stored):
    login_as(client, patient)

    assert post(client, "on", typed).status_code == 302

    assert setting(app, patient) == (True, stored)


@pytest.mark.parametrize(
    "typed",
    ["", "24:00", "20:60", "8pm", "20.00", "2000", "-1:00", "١٢:٣٠", "20:00\x00", "9" * 500],
)
def test_a_wrong_time_is_refused_beside_its_field_with_the_choice_kept(app, client, patient, typed):
    login_as(client, patient)

    response = post(client, "on", typed)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_error(page, "reminder-at")
    assert not field_error(page, "reminder-on")
    assert ON_CHECKED in page  # the other answer is kept
    assert "Please fix the problem below." in page
    assert setting(app, patient) == (False, time(20, 0))
    assert reminder_audits(app) == []


@pytest.mark.parametrize("choice", ["", "yes", "ON", "true", "1"])
def test_an_unknown_choice_is_refused_with_the_time_kept(app, client, patient, choice):
    login_as(client, patient)

    response = post(client, choice, "06:10")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_error(page, "reminder-on") == reminders.CHOICE_ERROR
    assert 'type="time" value="06:10"' in page
    assert setting(app, patient) == (False, time(20, 0))


def test_extra_fields_change_nothing_else(app, client, patient, clinician):
    login_as(client, patient)

    response = post(client, "on", "20:00", role="admin", patient_id=str(clinician.id), active="0")

    assert response.status_code == 302
    with app.app_context():
        me, other = db.session.get(User, patient.id), db.session.get(User, clinician.id)
        assert (me.role, me.active, me.reminder_on) == (Role.PATIENT, True, True)
        assert other.reminder_on is False


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.ADMIN])
def test_other_roles_have_no_reminder_and_cannot_post_one(app, client, make_user, role):
    user = make_user(role)
    login_as(client, user)

    page = client.get("/account/details").get_data(as_text=True)
    assert "Daily reminder e-mail" not in page

    assert post(client).status_code == 403
    assert setting(app, user) == (False, time(20, 0))
    assert reminder_audits(app) == []


def test_a_clinician_cannot_set_their_patients_reminder(app, client, clinician, patient):
    """No page lets anyone set another person's reminder, and the service refuses it too."""
    login_as(client, clinician)
    assert post(client, patient_id=str(patient.id)).status_code == 403
    with app.app_context():
        actor, account = db.session.get(User, clinician.id), db.session.get(User, patient.id)
        with pytest.raises(ServiceError):
            reminders.change_reminder(actor, account, "on", "20:00")
    assert setting(app, patient) == (False, time(20, 0))
    assert reminder_audits(app) == []


def test_signed_out_it_is_the_login_page(app, client, patient):
    response = post(client)

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert setting(app, patient) == (False, time(20, 0))


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_without_the_form_token_nothing_changes(app, client, patient):
    login_as(client, patient)

    assert post(client).status_code == 400
    assert setting(app, patient) == (False, time(20, 0))


def test_the_phone_form_still_works_beside_it(app, client, patient):
    login_as(client, patient)

    response = client.post("/account/details", data={"phone": "bad"})

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_error(page, "phone")
    assert OFF_CHECKED in page  # the reminder form shows the stored setting


def test_a_refused_time_is_kept_as_typed_in_a_text_box(client, patient):
    """A time box cannot hold "8pm" (and the page would not be valid HTML with it)."""
    login_as(client, patient)

    page = post(client, "on", "8pm").get_data(as_text=True)

    assert 'id="reminder-at" name="reminder-at" type="text" value="8pm"' in page
    assert 'type="time"' not in page
