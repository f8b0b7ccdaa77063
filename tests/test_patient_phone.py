"""A phone number the care team can call (issue 15, item 9): the patient keeps it on "My
details", their clinician on the patient page; both edits are audited (never the number)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from taper.extensions import db
from taper.models import AuditEvent, Role, User
from taper.services import ServiceError, accounts
from taper.services.accounts import PHONE_ERROR, normalise_phone
from tests.conftest import login_as
from tests.helpers import field_error


def phone_of(app, user) -> str | None:
    with app.app_context():
        return db.session.get(User, user.id).phone


def phone_audits(app) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.phone_change")
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def set_phone_in_db(app, user, phone: str) -> None:
    with app.app_context():
        db.session.get(User, user.id).phone = phone
        db.session.commit()


# --- what counts as a phone number ------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("07700 900123", "07700 900123"),
        ("  +44 (0)7700-900-123  ", "+44 (0)7700-900-123"),
        ("123456", "123456"),  # 6 digits: the shortest accepted
        ("1" * 20, "1" * 20),  # 20 digits: the longest accepted
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_phone_numbers_are_accepted_loosely_and_stored_trimmed(typed, stored):
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "12345",  # 5 digits
        "1" * 21,  # 21 digits
        "0770 090 0123 ext 5",  # letters
        "07700.900123",  # a dot
        "+44 7700 900123 / 900124",
        "０７７００９００１２３",  # full-width digits
        "٠٧٧٠٠٩٠٠١٢٣",  # Arabic-Indic digits
        "²²²²²²²",  # "²".isdigit(), but it is no digit of a phone number
        "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7",  # 17 digits but 33 characters: too long to store
        "------------",  # no digit at all
    ],
)
def test_anything_else_is_refused_with_a_clear_message(typed):
    with pytest.raises(ServiceError) as refused:
        normalise_phone(typed)
    assert refused.value.field == "phone"
    assert refused.value.message == PHONE_ERROR


def test_the_call_link_holds_only_digits_and_a_leading_plus():
    # The trunk "(0)" is not dialled after a country code.
    assert User(phone="+44 (0)7700-900-123").phone_uri == "tel:+447700900123"
    assert User(phone="+44 (0) 20 7946 0000").phone_uri == "tel:+442079460000"
    assert User(phone="07700 900123").phone_uri == "tel:07700900123"
    assert User(phone=None).phone_uri is None


# --- the patient's own "My details" page ------------------------------------------------------


def test_patient_sees_and_changes_their_own_phone_number(app, client, patient):
    login_as(client, patient)
    page = client.get("/account/details")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "My details" in text
    assert patient.email in text
    assert 'autocomplete="tel"' in text
    assert 'inputmode="tel"' in text

    response = client.post("/account/details", data={"phone": "  07700 900123 "})

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/details")
    assert phone_of(app, patient) == "07700 900123"
    again = client.get("/account/details").get_data(as_text=True)
    assert 'value="07700 900123"' in again
    assert "Your phone number is saved." in again
    [row] = phone_audits(app)
    assert (row.actor_id, row.object_id, row.patient_id) == (patient.id, patient.id, patient.id)
    assert row.summary == {"set": True, "by_owner": True}
    assert "07700" not in repr(row.summary)  # the audit trail names the change, not the number


def test_patient_removes_their_phone_number_by_leaving_it_empty(app, client, patient):
    set_phone_in_db(app, patient, "07700 900123")
    login_as(client, patient)

    response = client.post("/account/details", data={"phone": ""})

    assert response.status_code == 302
    assert phone_of(app, patient) is None
    [row] = phone_audits(app)
    assert row.summary == {"set": False, "by_owner": True}


def test_saving_the_same_number_again_changes_and_audits_nothing(app, client, patient):
    set_phone_in_db(app, patient, "07700 900123")
    login_as(client, patient)

    response = client.post(
        "/account/details", data={"phone": " 07700 900123"}, follow_redirects=True
    )

    assert "Nothing changed." in response.get_data(as_text=True)
    assert phone_audits(app) == []


@pytest.mark.parametrize("typed", ["call me", "12345", "1" * 21, "x" * 40])
def test_a_wrong_phone_number_is_refused_beside_the_field_and_nothing_is_saved(
    app, client, patient, typed
):
    set_phone_in_db(app, patient, "07700 900123")
    login_as(client, patient)

    response = client.post("/account/details", data={"phone": typed})

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_error(page, "phone")  # the message sits beside the field, tied to it
    assert 'aria-invalid="true"' in page
    assert phone_of(app, patient) == "07700 900123"
    assert phone_audits(app) == []


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.ADMIN])
def test_every_role_keeps_its_own_number_and_it_is_not_patient_data(app, client, make_user, role):
    user = make_user(role)
    login_as(client, user)

    assert client.post("/account/details", data={"phone": "+1 212 555 0100"}).status_code == 302

    assert phone_of(app, user) == "+1 212 555 0100"
    [row] = phone_audits(app)
    assert row.patient_id is None


def test_my_details_needs_a_login(client):
    response = client.get("/account/details")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_my_details_refuses_a_post_without_the_csrf_token(app, client, patient):
    login_as(client, patient)

    response = client.post("/account/details", data={"phone": "07700 900123"})

    assert response.status_code == 400
    assert phone_of(app, patient) is None


# --- the clinician's patient page -------------------------------------------------------------


def test_patient_page_shows_the_number_as_a_call_link(app, client, clinician, patient):
    set_phone_in_db(app, patient, "+44 7700 900123")
    login_as(client, clinician)

    page = client.get(f"/clinician/patients/{patient.id}").get_data(as_text=True)

    assert '<a class="call-link" href="tel:+447700900123">Call +44 7700 900123</a>' in page
    assert 'id="phone-phone"' in page
    assert 'value="+44 7700 900123"' in page


def test_patient_page_says_when_there_is_no_number(client, clinician, patient):
    login_as(client, clinician)

    page = client.get(f"/clinician/patients/{patient.id}").get_data(as_text=True)

    assert "tel:" not in page
    assert "Not given" in page
    assert "Add a phone number" in page


def test_clinician_changes_their_patients_phone_number(app, client, clinician, patient):
    login_as(client, clinician)

    response = client.post(
        f"/clinician/patients/{patient.id}/phone", data={"phone-phone": " 020 7946 0000 "}
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/clinician/patients/{patient.id}#contact")
    assert phone_of(app, patient) == "020 7946 0000"
    [row] = phone_audits(app)
    assert (row.actor_id, row.object_id, row.patient_id) == (clinician.id, patient.id, patient.id)
    assert row.summary == {"set": True, "by_owner": False}
    page = client.get(f"/clinician/patients/{patient.id}").get_data(as_text=True)
    assert "phone number is saved" in page
    assert 'href="tel:02079460000">Call 020 7946 0000</a>' in page


def test_a_wrong_number_from_the_clinician_is_shown_beside_the_field(
    app, client, clinician, patient
):
    set_phone_in_db(app, patient, "07700 900123")
    login_as(client, clinician)

    response = client.post(
        f"/clinician/patients/{patient.id}/phone", data={"phone-phone": "ring reception"}
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert PHONE_ERROR.split(",")[0] in field_error(page, "phone-phone")
    assert 'value="ring reception"' in page  # what they typed stays
    assert '<details class="phone-edit" id="contact" open>' in page
    assert patient.name in page  # the whole patient page, not a bare error
    assert phone_of(app, patient) == "07700 900123"
    assert phone_audits(app) == []


def test_clinician_cannot_change_another_clinicians_patient(app, client, make_user, patient):
    other = make_user(Role.CLINICIAN)
    login_as(client, other)

    response = client.post(
        f"/clinician/patients/{patient.id}/phone", data={"phone-phone": "07700 900123"}
    )

    assert response.status_code == 404
    assert phone_of(app, patient) is None
    assert phone_audits(app) == []


def test_clinician_cannot_change_a_number_through_an_id_that_is_not_a_patient(
    app, client, clinician, make_user
):
    colleague = make_user(Role.CLINICIAN)
    login_as(client, clinician)

    response = client.post(
        f"/clinician/patients/{colleague.id}/phone", data={"phone-phone": "07700 900123"}
    )

    assert response.status_code == 404
    assert phone_of(app, colleague) is None


@pytest.mark.parametrize("role", [Role.PATIENT, Role.ADMIN])
def test_only_clinicians_use_the_patient_phone_form(app, client, make_user, patient, role):
    user = patient if role is Role.PATIENT else make_user(role)
    login_as(client, user)

    response = client.post(
        f"/clinician/patients/{patient.id}/phone", data={"phone-phone": "07700 900123"}
    )

    assert response.status_code == 403
    assert phone_of(app, patient) is None


def ids_of(page: str) -> list[str]:
    return re.findall(r'\sid="([^"]+)"', page)


def test_the_patient_page_with_its_phone_form_has_unique_ids(app, client, clinician, patient):
    set_phone_in_db(app, patient, "07700 900123")
    login_as(client, clinician)

    shown = client.get(f"/clinician/patients/{patient.id}").get_data(as_text=True)
    refused = client.post(
        f"/clinician/patients/{patient.id}/phone", data={"phone-phone": "nope"}
    ).get_data(as_text=True)

    for page in (shown, refused):
        ids = ids_of(page)
        assert "phone-phone" in ids
        assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("who", ["other clinician", "admin", "other patient"])
def test_the_service_itself_refuses_anyone_but_the_owner_or_their_clinician(
    app, make_user, patient, who
):
    role = {"other clinician": Role.CLINICIAN, "admin": Role.ADMIN}.get(who, Role.PATIENT)
    actor = make_user(role)
    with app.app_context():
        with pytest.raises(ServiceError, match="cannot change this phone number"):
            accounts.change_phone(
                db.session.get(User, actor.id), db.session.get(User, patient.id), "07700 900123"
            )
    assert phone_of(app, patient) is None
    assert phone_audits(app) == []


def test_the_service_lets_the_patients_own_clinician_change_it(app, clinician, patient):
    with app.app_context():
        changed = accounts.change_phone(
            db.session.get(User, clinician.id), db.session.get(User, patient.id), "07700 900123"
        )
    assert changed
    assert phone_of(app, patient) == "07700 900123"


# --- a phone number typed when the clinician adds the patient -------------------------------


def new_patient_form(**fields) -> dict:
    return {"name": "Casey Newcomer", "email": "casey@example.org", "timezone": "UTC", **fields}


def test_clinician_can_give_a_new_patients_phone_number_when_adding_them(app, client, clinician):
    login_as(client, clinician)
    page = client.get("/clinician/patients/new").get_data(as_text=True)
    assert '<label for="phone">Phone number (optional)</label>' in page

    response = client.post("/clinician/patients/new", data=new_patient_form(phone=" 07700 900123 "))

    assert response.status_code == 200  # the set-password link page
    with app.app_context():
        casey = db.session.scalar(select(User).where(User.email == "casey@example.org"))
        assert casey.phone == "07700 900123"
        casey_id = casey.id
    [row] = phone_audits(app)
    assert (row.actor_id, row.patient_id, row.summary) == (
        clinician.id,
        casey_id,
        {"set": True, "by_owner": False},
    )


def test_a_new_patient_without_a_phone_number_has_none_and_no_phone_audit(app, client, clinician):
    login_as(client, clinician)

    response = client.post("/clinician/patients/new", data=new_patient_form(phone=""))

    assert response.status_code == 200
    with app.app_context():
        casey = db.session.scalar(select(User).where(User.email == "casey@example.org"))
        assert casey.phone is None
    assert phone_audits(app) == []


def test_a_wrong_phone_number_for_a_new_patient_creates_nothing(app, client, clinician):
    login_as(client, clinician)
    with app.app_context():
        accounts_before = db.session.scalar(select(func.count()).select_from(User))

    response = client.post("/clinician/patients/new", data=new_patient_form(phone="ask reception"))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert PHONE_ERROR.split(",")[0] in field_error(page, "phone")
    assert 'value="Casey Newcomer"' in page  # everything typed stays
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == accounts_before
    assert phone_audits(app) == []
