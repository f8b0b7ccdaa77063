"""Who may reach plans: only the patient's care team edits; the patient reads; nobody else."""

from datetime import date

import pytest

from taper.models import Role
from tests.conftest import login_as
from tests.helpers import plan_form, six_steps

EDIT_ROUTES = [
    ("GET", "/clinician/patients/{patient}/plans/new"),
    ("POST", "/clinician/patients/{patient}/plans/new"),
    ("GET", "/clinician/plans/{plan}"),
    ("GET", "/clinician/plans/{plan}/edit"),
    ("POST", "/clinician/plans/{plan}/edit"),
    ("POST", "/clinician/plans/{plan}/hold"),
    ("POST", "/clinician/plans/{plan}/release-hold"),
    ("POST", "/clinician/plans/{plan}/status"),
    ("GET", "/clinician/plans/{plan}/revisions"),
]


@pytest.fixture
def plan_id(client, clinician, patient, write_plan):
    login_as(client, clinician)
    return write_plan(patient, six_steps(date(2026, 3, 2)))


def _call(client, method, url):
    data = (
        plan_form(six_steps(date(2026, 3, 2)), reason="x", version=1) if method == "POST" else None
    )
    return client.open(url, method=method, data=data)


@pytest.mark.parametrize(("method", "url"), EDIT_ROUTES)
def test_other_clinician_gets_404_and_none_of_the_plan(
    client, make_user, patient, plan_id, method, url
):
    outsider = make_user(Role.CLINICIAN, name="Dr Outsider")
    login_as(client, outsider)
    response = _call(client, method, url.format(patient=patient.id, plan=plan_id))
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert patient.name not in body
    assert "diazepam" not in body.lower()
    assert "17.5" not in body


@pytest.mark.parametrize(("method", "url"), EDIT_ROUTES)
@pytest.mark.parametrize("role", [Role.PATIENT, Role.ADMIN])
def test_patients_and_admins_cannot_reach_plan_editing(
    client, make_user, patient, plan_id, method, url, role
):
    """A patient (even the plan's own) and an admin get 403 on every schedule route."""
    user = patient if role is Role.PATIENT else make_user(Role.ADMIN)
    login_as(client, user)
    response = _call(client, method, url.format(patient=patient.id, plan=plan_id))
    assert response.status_code == 403
    assert "17.5" not in response.get_data(as_text=True)


def test_every_clinician_rule_is_closed_to_patients(app, client, patient, plan_id):
    """Walk the URL map: no /clinician/ route answers a patient with anything but 403."""
    login_as(client, patient)
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/clinician/"):
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<int:{arg}>", str(plan_id))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            assert client.open(url, method=method).status_code == 403, (method, url)


def test_unknown_plan_is_404(client, clinician):
    login_as(client, clinician)
    assert client.get("/clinician/plans/999999").status_code == 404


def test_patient_never_sees_a_draft(client, clinician, patient, write_plan):
    login_as(client, clinician)
    write_plan(patient, six_steps(date.today()), activate=False)
    login_as(client, patient)
    page = client.get("/today").get_data(as_text=True)
    assert "has not given you a taper plan" in page
    assert "diazepam" not in page.lower()


def test_patient_sees_only_own_plan(client, clinician, patient, make_user, write_plan):
    other = make_user(name="Other Person", clinicians=(clinician,))
    login_as(client, clinician)
    write_plan(other, six_steps(date.today()), medication="clonazepam")
    login_as(client, patient)
    page = client.get("/today").get_data(as_text=True)
    assert "clonazepam" not in page.lower()
