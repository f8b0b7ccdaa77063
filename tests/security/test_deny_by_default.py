"""B1/B2: deny by default, and each role reaches only its own pages."""

import re

import pytest

from taper.access import PUBLIC_ENDPOINTS
from taper.models import Role
from tests.conftest import login_as
from tests.helpers import call, calls, changed_tables, table_rows


def test_anonymous_reaches_only_the_allow_list(app, world):
    """Every route of the catalogue, posted its form: the public ones answer, the others send
    to the login page and write nothing."""
    seen = 0
    for route, method, url in calls(app, world):
        visitor = app.test_client()  # a set-password link signs its visitor in: start afresh
        before = table_rows(app)
        # Red flags sent by nobody signed in get the urgent screen and are kept on the device
        # until they log in (F9, tests/redflags_kept/): that route is posted empty.
        response = call(app, visitor, world, route, method, url, form=route.rule != "/help")
        if route.public:
            assert response.status_code < 500, url
            continue
        seen += 1
        # A browser is sent to the login page; only JSON clients get a 401 (below).
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.headers["Location"].startswith("/login"), url
        assert not changed_tables(before, table_rows(app)), (method, url)
    assert seen > 30  # the walk really covered the app


def test_allow_list_is_small_and_explicit():
    assert PUBLIC_ENDPOINTS == {
        "static",
        "auth.login",
        "auth.login_code",
        "auth.set_password",
        "main.health",
        "main.healthz",
        "main.metrics",  # admin or the scraper's token, checked by the view: 404 otherwise
        "main.ping",
        "main.readyz",
    }


def test_json_clients_get_401_json(client):
    response = client.get("/clinician/patients", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_403_on_the_other_roles_pages(app, client, make_user, world, role):
    """The permission grid: role x route x method -> 403 for pages of another role, with the
    route's form and real ids, and no row changed."""
    login_as(client, make_user(role))
    checked = 0
    for route, method, url in calls(app, world):
        if role in route.roles:
            continue
        checked += 1
        before = table_rows(app)
        response = call(app, client, world, route, method, url)
        assert response.status_code == 403, (role, method, url, response.status_code)
        assert "You cannot open this page" in response.get_data(as_text=True), (method, url)
        assert not changed_tables(before, table_rows(app)), (role, method, url)
    assert checked > 10


def test_clinician_cannot_open_another_care_teams_patient(client, make_user, patient):
    outsider = make_user(Role.CLINICIAN)
    login_as(client, outsider)
    for url in (
        f"/clinician/patients/{patient.id}",
        f"/clinician/patients/{patient.id}/logs",
        f"/clinician/patients/{patient.id}/progress",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert patient.name not in response.get_data(as_text=True)
        assert patient.email not in response.get_data(as_text=True)
    assert client.post(f"/clinician/patients/{patient.id}/link").status_code == 404


@pytest.mark.parametrize("target", ["clinician", "admin", "missing"])
def test_non_patient_ids_in_patient_urls_are_404(client, clinician, admin, target):
    login_as(client, clinician)
    user_id = {"clinician": clinician.id, "admin": admin.id, "missing": 999_999}[target]
    assert client.get(f"/clinician/patients/{user_id}").status_code == 404


def test_patients_list_shows_only_own_care_team(client, clinician, patient, make_user):
    stranger = make_user(name="Stranger Danger")
    login_as(client, clinician)
    page = client.get("/clinician/patients").get_data(as_text=True)
    assert patient.name in page
    assert stranger.name not in page


def test_admin_pages_show_no_clinical_data(client, admin, patient, active_plan):
    login_as(client, admin)
    page = client.get("/admin/accounts").get_data(as_text=True)
    assert patient.name in page  # the account, for management
    for clinical in ("diazepam", "Symptom", "/clinician/plans", "/charts/"):
        assert clinical not in page
    # A dose ("10 mg"), not the letters "mg" that a random CSRF token or nonce may hold.
    assert not re.search(r"\d mg\b", page)


def test_mass_assignment_is_ignored(app, client, clinician):
    """B3: extra fields cannot set the role, the team or the session version."""
    from taper.extensions import db
    from taper.models import CareTeamLink, User, find_user_by_email

    login_as(client, clinician)
    client.post(
        "/clinician/patients/new",
        data={
            "name": "Mass Assign",
            "email": "mass@example.org",
            "timezone": "UTC",
            "role": "admin",
            "clinician_id": "999",
            "patient_id": "1",
            "active": "0",
            "session_version": "99",
        },
    )
    with app.app_context():
        user = find_user_by_email("mass@example.org")
        assert user.role is Role.PATIENT
        assert user.active is True
        assert user.session_version == 1
        links = db.session.query(CareTeamLink).filter_by(patient_id=user.id).all()
        assert [link.clinician_id for link in links] == [clinician.id]
        assert db.session.get(User, user.id).password_hash is None


def test_denied_access_is_logged_without_names_or_health_data(
    client, app, clinician, patient, active_plan, make_user, caplog
):
    """D4: refusals are security events: who, where and which id, nothing clinical."""
    import logging

    stranger = make_user(Role.CLINICIAN, name="Dr Stranger")
    with caplog.at_level(logging.WARNING, logger="taper.access"):
        login_as(client, stranger)
        assert client.get(f"/clinician/patients/{patient.id}").status_code == 404
        login_as(client, patient)
        assert client.get("/clinician/patients").status_code == 403
    denied = [r.getMessage() for r in caplog.records if r.name == "taper.access"]
    assert denied == [
        f"access denied status=404 user={stranger.id} role=clinician "
        f"endpoint=clinician.patient ids={{'patient_id': {patient.id}}}",
        f"access denied status=403 user={patient.id} role=patient "
        "endpoint=clinician.patients ids={}",
    ]
    assert patient.name not in "".join(denied)
