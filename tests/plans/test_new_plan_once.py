"""The new-plan form carries a one-time id: the same form sent twice (a double click, Back and
Save again, two at the same instant) saves one plan (SECURITY.md F2)."""

import re
import threading
from datetime import timedelta

from sqlalchemy import select

from taper.extensions import db
from taper.models import AuditEvent, PlanRevision, TaperPlan
from tests.conftest import PASSWORD_HASH, login_as
from tests.helpers import patient_today, plan_form, row_counts


def _form(client, patient) -> dict:
    """The new-plan form as the editor gives it, filled with two steps."""
    page = client.get(f"/clinician/patients/{patient.id}/plans/new").get_data(as_text=True)
    submission = re.search(r'name="submission_id" type="hidden" value="([0-9a-f]{32})"', page)
    assert submission, "the editor carries a one-time id"
    today = patient_today(patient)
    steps = [(today, "10", {}, ""), (today + timedelta(days=14), "8", {}, "")]
    return plan_form(steps) | {"submission_id": submission.group(1)}


def test_the_same_new_plan_form_sent_twice_saves_one_plan(app, client, clinician, patient):
    login_as(client, clinician)
    data = _form(client, patient)
    url = f"/clinician/patients/{patient.id}/plans/new"

    first = client.post(url, data=data)
    again = client.post(url, data=data)

    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert row_counts(app, TaperPlan, PlanRevision) == (1, 1)
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert actions.count("plan.create") == 1
    # A new visit to the editor is a new form: a second plan is saved as asked.
    assert client.post(url, data=_form(client, patient)).status_code == 302
    assert row_counts(app, TaperPlan) == (2,)


def test_a_form_refused_then_corrected_keeps_its_id_and_saves_once(app, client, clinician, patient):
    login_as(client, clinician)
    data = _form(client, patient)
    url = f"/clinician/patients/{patient.id}/plans/new"
    bad = dict(data, **{"steps-1-total": "eight"})
    page = client.post(url, data=bad).get_data(as_text=True)
    assert f'value="{data["submission_id"]}"' in page  # the id comes back with the form
    assert client.post(url, data=data).status_code == 302
    assert client.post(url, data=data).status_code == 302
    assert row_counts(app, TaperPlan) == (1,)


def test_another_patients_form_id_makes_a_plan_of_its_own(
    app, client, clinician, patient, make_user
):
    """An id already used for another patient (never our own form's) saves this patient's plan
    rather than showing or refusing the other one."""
    other = make_user(clinicians=(clinician,))
    login_as(client, clinician)
    data = _form(client, patient)
    client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    response = client.post(f"/clinician/patients/{other.id}/plans/new", data=data)
    assert response.status_code == 302
    with app.app_context():
        owners = db.session.scalars(select(TaperPlan.patient_id).order_by(TaperPlan.id)).all()
    assert owners == [patient.id, other.id]


def test_two_identical_new_plan_posts_at_once_save_one_plan(shared_app, monkeypatch):
    from taper import access
    from taper.models import Role, User

    with shared_app.app_context():
        clinician = User(
            role=Role.CLINICIAN, email="c@example.org", name="Dr C", password_hash=PASSWORD_HASH
        )
        patient = User(
            role=Role.PATIENT, email="p@example.org", name="P", password_hash=PASSWORD_HASH
        )
        db.session.add_all([clinician, patient])
        db.session.flush()
        from taper.services import accounts

        accounts.add_to_care_team(None, clinician, patient)
        db.session.commit()
        db.session.expunge_all()
    browser = shared_app.test_client()
    login_as(browser, clinician)
    data = _form(browser, patient)
    barrier = threading.Barrier(2, timeout=10)
    found = access.patient_or_404

    def in_step(user, patient_id):
        loaded = found(user, patient_id)
        barrier.wait()  # both requests are past the access check, neither has saved
        return loaded

    monkeypatch.setattr(access, "patient_or_404", in_step)
    statuses = []

    def send() -> None:
        other = shared_app.test_client()
        login_as(other, clinician)
        statuses.append(other.post(f"/clinician/patients/{patient.id}/plans/new", data=data))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.status_code for r in statuses) == [302, 302]
    assert statuses[0].headers["Location"] == statuses[1].headers["Location"]
    with shared_app.app_context():
        assert len(db.session.scalars(select(TaperPlan.id)).all()) == 1
