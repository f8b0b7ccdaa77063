"""D5: append-only audit trail with an admin page; F6: a patient's own export, formula-safe."""

import csv
import io
import pathlib
import re

from sqlalchemy import select

from taper.extensions import db
from taper.models import AuditEvent, DailyLog
from tests.conftest import login_as
from tests.helpers import fill_log, log_form, patient_today


def test_viewing_a_patients_data_writes_audit_rows(app, client, clinician, patient, active_plan):
    login_as(client, patient)
    day = patient_today(patient)
    assert client.post("/log", data=fill_log(client)).status_code == 302
    login_as(client, clinician)
    before = _count(app)
    for url in (
        f"/clinician/patients/{patient.id}",
        f"/clinician/patients/{patient.id}/logs",
        f"/clinician/patients/{patient.id}/logs/{day.isoformat()}",
        f"/clinician/plans/{active_plan}",
    ):
        client.get(url)
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[before:]
    assert [(r.action, r.actor_id, r.patient_id) for r in rows] == [
        ("patient.view", clinician.id, patient.id),
        ("log.history", clinician.id, patient.id),
        ("log.view", clinician.id, patient.id),
        ("plan.view", clinician.id, patient.id),
    ]


def test_the_plan_editor_and_a_prefilled_log_form_are_audited_views(
    app, client, clinician, patient, active_plan
):
    """The editor shows the whole plan (steps and notes), the new-plan page names the
    patient's running plans, and the log form of a logged day shows that log: each a view
    (D5). A refused save re-shows what was just viewed and writes nothing (F1)."""
    login_as(client, patient)
    before = _count(app)
    client.get("/log")  # not logged yet: nothing of the patient's shown but the plan's dose
    assert _count(app) == before
    assert client.post("/log", data=fill_log(client, note="Slept badly")).status_code == 302
    before = _count(app)
    assert "Slept badly" in client.get("/log").text
    login_as(client, clinician)
    client.get(f"/clinician/plans/{active_plan}/edit")
    client.get(f"/clinician/patients/{patient.id}/plans/new")
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[before:]
        log_id = db.session.scalar(select(DailyLog.id))
    assert [(r.action, r.actor_id, r.object_type, r.object_id, r.patient_id) for r in rows] == [
        ("log.view", patient.id, "daily_log", log_id, patient.id),
        ("plan.view", clinician.id, "taper_plan", active_plan, patient.id),
        ("plan.view", clinician.id, "taper_plan", active_plan, patient.id),  # named beside
    ]
    before = _count(app)
    refused = client.post(f"/clinician/plans/{active_plan}/edit", data={"reason": "x"})
    assert refused.status_code in (400, 409)
    assert _count(app) == before


def _count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(AuditEvent.id)).all())


def test_no_code_path_updates_or_deletes_audit_rows():
    root = pathlib.Path(__file__).resolve().parents[2] / "taper"
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"(update|delete)\(\s*AuditEvent", text), path
        assert "AuditEvent.query" not in text or "delete" not in text, path


def test_admin_audit_page_shows_who_acted_on_which_account(
    client, admin, clinician, patient, make_user
):
    other = make_user(name="Other Patient Name")
    login_as(client, clinician)
    client.get(f"/clinician/patients/{patient.id}")
    client.post(f"/clinician/patients/{patient.id}/link")
    login_as(client, admin)
    page = client.get(f"/admin/audit?patient={patient.id}").get_data(as_text=True)
    assert "user.password_link" in page
    assert "patient.view" not in page  # a clinical event: not for admins (issue 13, 6c)
    assert f"{clinician.name} (clinician)" in page
    assert other.name not in page.split("</select>")[1]
    assert client.get("/admin/audit?patient=' OR 1=1--").status_code == 200
    login_as(client, clinician)
    assert client.get("/admin/audit").status_code == 403


def test_export_holds_only_own_rows_and_neutralises_formulas(
    client, patient, make_user, clinician, active_plan
):
    other = make_user(clinicians=(clinician,))
    login_as(client, other)
    client.post("/log", data=log_form(patient_today(other), note="other's note"))
    login_as(client, patient)
    client.post("/log", data=fill_log(client, note='=HYPERLINK("http://evil","x")'))
    client.post(
        "/log", data=fill_log(client, note="+1 then -2 and @me", took="no", dose_taken="10")
    )
    response = client.get("/export.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["version"] for r in rows] == ["1", "2"]
    assert rows[0]["note"] == '\'=HYPERLINK("http://evil","x")'
    assert rows[1]["note"] == "'+1 then -2 and @me"
    assert "other's note" not in response.get_data(as_text=True)
    assert rows[0]["irritable"] == "1"
    # The dose of each plan, taken and scheduled, as a spreadsheet reads numbers.
    assert [
        (
            r["diazepam taken as scheduled"],
            r["diazepam dose taken (mg)"],
            r["diazepam dose scheduled (mg)"],
        )
        for r in rows
    ] == [("yes", "7.5", "7.5"), ("no", "10", "7.5")]


def test_export_neutralises_a_formula_in_a_medication_name(
    client, app, clinician, patient, write_plan
):
    """The medication is typed by a clinician and becomes a column heading: a heading is a
    cell a spreadsheet may run as well."""
    login_as(client, clinician)
    write_plan(patient, [(patient_today(patient), "5", {}, "")], medication="=cmd|' /C calc'!A0")
    login_as(client, patient)
    assert client.post("/log", data=fill_log(client)).status_code == 302
    header = next(csv.reader(io.StringIO(client.get("/export.csv").get_data(as_text=True))))
    assert "'=cmd|' /C calc'!A0 dose taken (mg)" in header
    assert not [cell for cell in header if cell.startswith(("=", "+", "-", "@"))]
