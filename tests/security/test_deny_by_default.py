"""B1/B2: deny by default, and each role reaches only its own pages."""

import pytest
from werkzeug.routing import IntegerConverter

from taper.access import PUBLIC_ENDPOINTS
from taper.models import Role
from tests.conftest import login_as


def concrete_urls(app):
    """Every rule with sample values for its arguments, with its methods."""
    for rule in app.url_map.iter_rules():
        url = rule.rule
        for arg in rule.arguments:
            number = isinstance(rule._converters[arg], IntegerConverter)
            url = url.replace(f"<{'int:' if number else ''}{arg}>", "1" if number else "x")
        url = url.replace("<filename>", "css/app.css").replace("<path:filename>", "css/app.css")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def test_anonymous_reaches_only_the_allow_list(app, client):
    seen = 0
    for endpoint, method, url in concrete_urls(app):
        response = client.open(url, method=method)
        response.close()
        if endpoint in PUBLIC_ENDPOINTS:
            assert response.status_code < 500, url
            continue
        seen += 1
        assert response.status_code in (302, 401), (method, url, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login"), url
    assert seen > 30  # the walk really covered the app


def test_allow_list_is_small_and_explicit():
    assert PUBLIC_ENDPOINTS == {
        "static",
        "auth.login",
        "auth.login_code",
        "auth.set_password",
        "main.health",
        "main.ping",
    }


def test_json_clients_get_401_json(client):
    response = client.get("/clinician/patients", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


ROLE_PREFIXES = {
    Role.PATIENT: ("/today", "/log", "/help", "/history", "/progress"),
    Role.CLINICIAN: ("/clinician/",),
    Role.ADMIN: ("/admin/",),
}


def _under(url: str, prefix: str) -> bool:
    if prefix.endswith("/"):
        return url.startswith(prefix)
    return url == prefix or url.startswith(prefix + "/")


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_403_on_the_other_roles_pages(app, client, make_user, role):
    """The permission grid: role x route x method -> 403 for pages of another role."""
    login_as(client, make_user(role))
    checked = 0
    for _endpoint, method, url in concrete_urls(app):
        owner = next(
            (r for r, prefixes in ROLE_PREFIXES.items() if any(_under(url, p) for p in prefixes)),
            None,
        )
        if owner is None or owner is role:
            continue
        checked += 1
        response = client.open(url, method=method)
        assert response.status_code == 403, (role, method, url, response.status_code)
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
    for clinical in ("diazepam", "mg", "Symptom", "/clinician/plans", "/charts/"):
        assert clinical not in page


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
