"""A clinician's own patients: adding one, their set-password link, and the Patients list."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from taper.extensions import db
from taper.models import AuditEvent, CareTeamLink, Role, User
from tests.conftest import login_as, real_login
from tests.helpers import field_error, row_counts

NEW_PASSWORD = "my own long sentence for Taper"
DUPLICATE = "An account with this email already exists."


@pytest.fixture
def as_clinician(client, clinician):
    login_as(client, clinician)
    return client


def patient_form(**overrides) -> dict[str, str]:
    form = {"name": "Casey Newcomer", "email": "casey@example.org", "timezone": "Europe/Berlin"}
    return form | overrides


def link_path(page: str) -> str:
    found = re.search(r'id="link" class="link-box" type="text" readonly value="([^"]+)"', page)
    assert found, page
    path = urlsplit(found.group(1)).path
    assert path.startswith("/set-password/")
    return path


def stored(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def listed_names(page: str) -> list[str]:
    """Patient names in the order the Patients list shows them."""
    return re.findall(r'<a href="/clinician/patients/\d+">([^<]*)</a>', page)


# --- adding a patient ------------------------------------------------------------------------


def test_new_patient_form_starts_with_the_clinics_time_zone(app, as_clinician):
    response = as_clinician.get("/clinician/patients/new")

    assert response.status_code == 200
    zone = app.config["DEFAULT_TIMEZONE"]
    assert f'<option selected value="{zone}">' in response.get_data(as_text=True)


def test_clinician_adds_a_patient_who_sets_a_password_and_lands_on_today(
    app, as_clinician, clinician
):
    response = as_clinician.post("/clinician/patients/new", data=patient_form())

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Account ready: Casey Newcomer" in page
    person = stored(app, "casey@example.org")
    assert (person.role, person.timezone, person.password_hash, person.active) == (
        Role.PATIENT,
        "Europe/Berlin",
        None,
        True,
    )
    assert f'href="/clinician/patients/{person.id}">Continue</a>' in page
    with app.app_context():
        assert db.session.get(CareTeamLink, (clinician.id, person.id)) is not None
        actions = db.session.execute(
            select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.patient_id).order_by(
                AuditEvent.id
            )
        ).all()
    assert actions == [
        ("user.create", clinician.id, person.id),
        ("care_team.add", clinician.id, person.id),
        ("user.password_link", clinician.id, person.id),
    ]
    listing = as_clinician.get("/clinician/patients").get_data(as_text=True)
    assert "Casey Newcomer" in listing
    assert "no password yet" in listing

    path = link_path(page)
    browser = app.test_client()
    assert browser.get(path).status_code == 200
    done = browser.post(
        path,
        data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert done.request.path == "/today"
    assert "Your password is set. Welcome to Taper." in done.get_data(as_text=True)

    assert app.test_client().get(path).status_code == 400  # the link worked once
    assert real_login(app.test_client(), "casey@example.org", NEW_PASSWORD).status_code == 302
    assert "no password yet" not in as_clinician.get("/clinician/patients").get_data(as_text=True)


def test_new_patient_is_only_on_the_adding_clinicians_care_team(app, as_clinician, make_user):
    colleague = make_user(Role.CLINICIAN)
    as_clinician.post("/clinician/patients/new", data=patient_form())
    person = stored(app, "casey@example.org")

    other = app.test_client()
    login_as(other, colleague)
    assert "Casey Newcomer" not in other.get("/clinician/patients").get_data(as_text=True)
    assert other.get(f"/clinician/patients/{person.id}").status_code == 404


@pytest.mark.parametrize("email", ["robin@example.org", "ROBIN@Example.ORG", " robin@example.org "])
def test_duplicate_email_is_refused_beside_the_field_and_nothing_is_created(
    app, as_clinician, make_user, email
):
    make_user(Role.PATIENT, email="robin@example.org", name="Robin Existing")
    before = row_counts(app, User, CareTeamLink, AuditEvent)

    response = as_clinician.post(
        "/clinician/patients/new", data=patient_form(email=email, name="Robin Again")
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert DUPLICATE in field_error(page, "email")
    assert 'value="Robin Again"' in page
    assert f'value="{email}"' in page
    assert '<option selected value="Europe/Berlin">' in page
    assert row_counts(app, User, CareTeamLink, AuditEvent) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"email": ""}, "email"),
        ({"email": "casey.example.org"}, "email"),
        ({"email": "casey@"}, "email"),
        ({"name": "Casey\x00"}, "name"),
        ({"email": "casey\x00@example.org"}, "email"),
        ({"timezone": "Nowhere/Land"}, "timezone"),
    ],
)
def test_bad_new_patient_input_is_refused_and_nothing_is_created(
    app, as_clinician, overrides, field
):
    before = row_counts(app, User, CareTeamLink, AuditEvent)

    response = as_clinician.post("/clinician/patients/new", data=patient_form(**overrides))

    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), field)
    assert row_counts(app, User, CareTeamLink, AuditEvent) == before


def test_double_submit_of_the_new_patient_form_creates_one_account(app, as_clinician):
    users_before = row_counts(app, User)[0]

    first = as_clinician.post("/clinician/patients/new", data=patient_form())
    second = as_clinician.post("/clinician/patients/new", data=patient_form())

    assert first.status_code == 200
    assert second.status_code == 400
    assert DUPLICATE in field_error(second.get_data(as_text=True), "email")
    assert row_counts(app, User)[0] == users_before + 1
    with app.app_context():
        same = select(func.count()).select_from(User).where(User.email == "casey@example.org")
        assert db.session.scalar(same) == 1
        assert db.session.scalar(select(func.count()).select_from(CareTeamLink)) == 1


def test_role_cannot_be_smuggled_into_a_new_patient(app, as_clinician):
    data = patient_form(role="admin", active="0", clinician_id="1")

    assert as_clinician.post("/clinician/patients/new", data=data).status_code == 200

    person = stored(app, "casey@example.org")
    assert (person.role, person.active) == (Role.PATIENT, True)


# --- the Patients list -----------------------------------------------------------------------


def test_patients_nav_link_is_present_on_clinician_pages(as_clinician):
    for url in ("/clinician/patients", "/clinician/patients/new"):
        page = as_clinician.get(url).get_data(as_text=True)
        assert '<a href="/clinician/patients">Patients</a>' in page


def test_patients_list_is_sorted_by_name_and_shows_only_own_patients(
    as_clinician, clinician, make_user
):
    colleague = make_user(Role.CLINICIAN)
    for name in ("Cy Cole", "bea brown", "Al Adams", "Dee Dunn"):
        make_user(Role.PATIENT, name=name, clinicians=(clinician,))
    make_user(Role.PATIENT, name="Bo Other", clinicians=(colleague,))

    page = as_clinician.get("/clinician/patients").get_data(as_text=True)

    assert listed_names(page) == ["Al Adams", "bea brown", "Cy Cole", "Dee Dunn"]


def test_a_deactivated_patient_is_marked_on_the_list_and_their_page(
    as_clinician, clinician, make_user
):
    gone = make_user(Role.PATIENT, name="Gil Gone", clinicians=(clinician,), active=False)
    make_user(Role.PATIENT, name="Hal Here", clinicians=(clinician,))

    page = as_clinician.get("/clinician/patients").get_data(as_text=True)

    rows = {
        name: row
        for name, row in re.findall(r">([A-Z][a-z]+ [A-Z][a-z]+)</a>(.*?)</th>", page, re.S)
    }
    assert "account switched off" in rows["Gil Gone"]
    assert "account switched off" not in rows["Hal Here"]
    own_page = as_clinician.get(f"/clinician/patients/{gone.id}").get_data(as_text=True)
    assert "Switched off by an admin: cannot log in" in own_page


def test_an_urgent_alert_nobody_acknowledged_comes_first(app, as_clinician, clinician, make_user):
    """Two acknowledged urgent alerts (someone is on it) sort below one fresh seizure."""
    from taper.extensions import db
    from taper.models import Alert, AlertStatus

    seen = make_user(Role.PATIENT, name="Ann Seen", clinicians=(clinician,))
    fresh = make_user(Role.PATIENT, name="Zed Fresh", clinicians=(clinician,))
    with app.app_context():
        for who, status in ((seen, AlertStatus.ACKNOWLEDGED),) * 2 + ((fresh, AlertStatus.OPEN),):
            db.session.add(
                Alert(
                    patient_id=who.id,
                    kind="red_flag",
                    tier="urgent",
                    reason="Red flag reported: seizure",
                    status=status,
                )
            )
        db.session.commit()

    page = as_clinician.get("/clinician/patients").get_data(as_text=True)

    assert listed_names(page) == ["Zed Fresh", "Ann Seen"]


def test_patients_list_escapes_names(as_clinician, clinician, make_user):
    payload = '"><svg onload=alert(1)>'
    make_user(Role.PATIENT, name=payload, clinicians=(clinician,))

    page = as_clinician.get("/clinician/patients").get_data(as_text=True)

    assert payload not in page
    assert str(escape(payload)) in page


# --- a fresh set-password link ---------------------------------------------------------------


def test_new_link_for_an_own_patient_works(app, as_clinician, clinician, make_user):
    person = make_user(Role.PATIENT, name="Lost Link", password_hash=None, clinicians=(clinician,))

    response = as_clinician.post(f"/clinician/patients/{person.id}/link")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Account ready: Lost Link" in page
    browser = app.test_client()
    done = browser.post(
        link_path(page),
        data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        follow_redirects=True,
    )
    assert done.request.path == "/today"
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "user.password_link")
        )
        assert (event.actor_id, event.object_id, event.patient_id, event.summary) == (
            clinician.id,
            person.id,
            person.id,
            {"sent": "shown"},
        )


@pytest.mark.parametrize("target", ["other_team", "colleague", "self", "admin", "missing"])
def test_new_link_outside_own_care_team_is_404(app, as_clinician, clinician, make_user, target):
    colleague = make_user(Role.CLINICIAN)
    ids = {
        "other_team": make_user(Role.PATIENT, password_hash=None, clinicians=(colleague,)).id,
        "colleague": colleague.id,
        "self": clinician.id,
        "admin": make_user(Role.ADMIN).id,
        "missing": 987654,
    }
    before = row_counts(app, AuditEvent)

    response = as_clinician.post(f"/clinician/patients/{ids[target]}/link")

    assert response.status_code == 404
    assert "/set-password/" not in response.get_data(as_text=True)
    assert row_counts(app, AuditEvent) == before


@pytest.mark.parametrize("role", [Role.PATIENT, Role.ADMIN])
def test_only_clinicians_may_add_patients(app, client, make_user, role):
    login_as(client, make_user(role))
    before = row_counts(app, User)

    assert client.post("/clinician/patients/new", data=patient_form()).status_code == 403
    assert row_counts(app, User) == before
