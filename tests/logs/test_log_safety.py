"""Parallel submissions, escaping, who sees which logs, and visit assessments."""

import base64
import json
import threading
import zlib

import pytest
from markupsafe import escape
from sqlalchemy import select

from taper.extensions import db
from taper.models import DailyLog, Role, VisitAssessment
from tests.conftest import login_as
from tests.helpers import fill_log, log_form, patient_today

XSS = ["<script>alert(1)</script>", '"><svg onload=alert(1)>', "{{7*7}}"]


def test_ten_parallel_identical_posts_save_one_log(shared_app):
    """F2: the same form sent ten times at once (double clicks, retries) is one log."""
    from taper.services import accounts

    app = shared_app
    with app.app_context():
        clinician = accounts.create_user(
            None, email="c@par.example.org", name="Dr C", role=Role.CLINICIAN
        )
        patient = accounts.create_user(None, email="p@par.example.org", name="P", role=Role.PATIENT)
        accounts.add_to_care_team(None, clinician, patient)
        db.session.commit()
        db.session.refresh(patient)
        db.session.expunge(patient)
    data = log_form(patient_today(patient))
    clients = [app.test_client() for _ in range(10)]
    for client in clients:
        login_as(client, patient)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def post(client):
        barrier.wait()
        statuses.append(client.post("/log", data=data).status_code)

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [302] * 10  # each sees "saved" or "already saved"
    with app.app_context():
        assert len(db.session.scalars(select(DailyLog)).all()) == 1


@pytest.mark.parametrize("payload", XSS)
def test_note_is_escaped_in_every_view(client, patient, clinician, active_plan, payload):
    """C3: the note is shown as text, never as markup."""
    login_as(client, patient)
    day = patient_today(patient)
    assert client.post("/log", data=fill_log(client, note=payload)).status_code == 302
    pages = [client.get(f"/history/{day.isoformat()}").get_data(as_text=True)]
    login_as(client, clinician)
    pages.append(
        client.get(f"/clinician/patients/{patient.id}/logs/{day.isoformat()}").get_data(
            as_text=True
        )
    )
    for page in pages:
        shown = page.split("<strong>Note:</strong>")[1].split("</p>")[0].strip()
        if payload.startswith("{{"):
            assert shown == payload  # shown literally, never evaluated
        else:
            assert payload not in page
            assert shown == escape(payload)


def test_patient_history_holds_only_their_own_logs(client, patient, make_user, clinician):
    other = make_user(name="Other Person", clinicians=(clinician,))
    login_as(client, other)
    client.post("/log", data=log_form(patient_today(other), note="other's secret"))
    login_as(client, patient)
    assert "other's secret" not in client.get("/history").get_data(as_text=True)
    assert client.get(f"/history/{patient_today(other).isoformat()}").status_code == 404


LOG_ROUTES = [
    "/clinician/patients/{id}/logs",
    "/clinician/patients/{id}/logs/{day}",
    "/clinician/patients/{id}/assessments/new",
    "/clinician/patients/{id}/alert-settings",
]


@pytest.mark.parametrize("route", LOG_ROUTES)
def test_other_clinician_gets_404_for_logs_and_settings(client, patient, make_user, route):
    login_as(client, patient)
    day = patient_today(patient)
    client.post("/log", data=log_form(day, note="private words"))
    login_as(client, make_user(Role.CLINICIAN))
    response = client.get(route.format(id=patient.id, day=day.isoformat()))
    assert response.status_code == 404
    assert "private words" not in response.get_data(as_text=True)
    assert patient.name not in response.get_data(as_text=True)


@pytest.mark.parametrize("route", ["/log", "/help", "/history"])
def test_clinicians_and_admins_cannot_use_patient_pages(client, make_user, route):
    for role in (Role.CLINICIAN, Role.ADMIN):
        login_as(client, make_user(role))
        assert client.get(route).status_code == 403


def _session_payload(set_cookie: str) -> str:
    """What anyone holding the session cookie can read without the key."""
    value = set_cookie.split("taper_session=", 1)[1].split(";", 1)[0]
    compressed = value.startswith(".")
    data = value.lstrip(".").split(".", 1)[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode()


def test_clinician_records_a_full_visit_assessment(client, app, clinician, patient):
    from taper.domain.instrument import CIWA_B

    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/assessments/new"
    answers = {item.key: "2" for item in CIWA_B.items}
    answers["sweating"] = ""
    response = client.post(url, data=answers)
    assert response.status_code == 400
    assert 'id="sweating-error"' in response.get_data(as_text=True)
    assert 'id="tremor-2" name="tremor" value="2" checked' in response.get_data(as_text=True)
    answers["sweating"] = "3"
    page = client.post(
        url, data={**answers, "note": "Tremor visible"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Assessment saved: its total is first under Visit assessments." in page
    assert "<td>41</td><td>Severe</td>" in page
    with app.app_context():
        (visit,) = db.session.scalars(select(VisitAssessment)).all()
        assert visit.total == 41
        assert len(visit.answers) == 20
    # The total is on the page, never in the session cookie (signed, not encrypted).
    saved = client.post(url, data=answers)
    flashed = json.loads(_session_payload(saved.headers["Set-Cookie"]))["_flashes"]
    assert [text for _, text in (entry[" t"] for entry in flashed)] == [
        "Assessment saved: its total is first under Visit assessments."
    ]


def test_the_same_assessment_form_sent_twice_saves_one_assessment(client, app, clinician, patient):
    """A double click, or Back and Save again: the form's one-time id keeps it to one
    assessment and one audit row; a new visit to the form is a new assessment."""
    import re

    from taper.domain.instrument import CIWA_B
    from taper.models import AuditEvent

    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/assessments/new"

    def form() -> dict:
        page = client.get(url).get_data(as_text=True)
        submission = re.search(r'name="submission_id" type="hidden" value="([0-9a-f]{32})"', page)
        return {item.key: "1" for item in CIWA_B.items} | {"submission_id": submission.group(1)}

    data = form()
    refused = client.post(url, data=data | {"tremor": ""})
    assert f'value="{data["submission_id"]}"' in refused.get_data(as_text=True)
    for _ in range(2):
        assert client.post(url, data=data).status_code == 302
    with app.app_context():
        assert len(db.session.scalars(select(VisitAssessment)).all()) == 1
        created = select(AuditEvent).where(AuditEvent.action == "assessment.create")
        assert len(db.session.scalars(created).all()) == 1
    assert client.post(url, data=form()).status_code == 302
    with app.app_context():
        assert len(db.session.scalars(select(VisitAssessment)).all()) == 2


def test_two_different_logs_of_one_day_at_the_same_instant_are_both_kept(shared_app):
    """Another device saves the same day between our version lookup and our insert: our log
    becomes the next version instead of being dropped as "already saved"."""
    from sqlalchemy import event, insert

    from taper.services import accounts

    app = shared_app
    with app.app_context():
        patient = accounts.create_user(None, email="p@day.example.org", name="P", role=Role.PATIENT)
        db.session.commit()
        db.session.refresh(patient)
        db.session.expunge(patient)
        engine = db.engine
    day = patient_today(patient)
    ours = log_form(day, note="From the phone", flags=["seizure"])
    raced = []

    def other_device_first(conn, cursor, statement, *_):
        if statement.startswith("INSERT INTO daily_log") and not raced:
            raced.append(True)
            with engine.connect() as other:
                other.execute(
                    insert(DailyLog).values(
                        patient_id=patient.id,
                        day=day,
                        version=1,
                        submission_id="f" * 32,
                        scale="ciwa-b",
                        answers={},
                        patient_total=0,
                        red_flags=[],
                        note="Laptop",
                    )
                )
                other.commit()

    event.listen(engine, "before_cursor_execute", other_device_first)
    try:
        client = app.test_client()
        login_as(client, patient)
        response = client.post("/log", data=ours)
    finally:
        event.remove(engine, "before_cursor_execute", other_device_first)
    assert raced
    assert response.status_code == 200  # the urgent-care page: the red flag was kept
    with app.app_context():
        kept = db.session.execute(
            select(DailyLog.version, DailyLog.note, DailyLog.red_flags).order_by(DailyLog.version)
        ).all()
    assert [tuple(k) for k in kept] == [(1, "Laptop", []), (2, "From the phone", ["seizure"])]
