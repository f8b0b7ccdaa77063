"""Who may download a patient's record (issue 17, item 2): the patient their own files, a
clinician those of their care team (drafts included), an admin nothing; every download
writes one ``record.export`` audit row, committed before the first byte is sent."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import timedelta
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models import AuditEvent, Role
from taper.services.records import EXPORT_FILES
from tests.conftest import login_as
from tests.helpers import fill_log, patient_today

NAMES = tuple(EXPORT_FILES)
CSV_NAMES = tuple(name for name in NAMES if name.endswith(".csv"))
FORMATS = {
    "record.fhir.json": "fhir",
    "logs.csv": "logs",
    "plans.csv": "plans",
    "alerts.csv": "alerts",
    "visits.csv": "visits",
    "red_flags.csv": "red_flags",
}
CSV_TYPE = "text/csv; charset=utf-8"
DRAFT_MEDICATION = "oxazepam"
LOG_NOTE = "Shaky morning, better by lunch"
VISIT_NOTE = "Calm at the visit"


@pytest.fixture
def record(app, client, clinician, patient, active_plan, write_plan):
    """The patient's record, made through the app: an active diazepam plan, a draft plan
    the clinician has not started, a visit assessment, and a logged day with a high score
    (which raises an alert). The client is left signed out."""
    today = patient_today(patient)
    login_as(client, clinician)
    write_plan(
        patient,
        [(today + timedelta(days=30), "15", {}, "")],
        activate=False,
        medication=DRAFT_MEDICATION,
    )
    response = client.post(
        f"/clinician/patients/{patient.id}/assessments/new",
        data={**{item.key: "1" for item in CIWA_B.items}, "note": VISIT_NOTE},
    )
    assert response.status_code == 302
    login_as(client, patient)
    response = client.post("/log", data=fill_log(client, score=3, note=LOG_NOTE))
    assert response.status_code == 302
    with client.session_transaction() as session:
        session.clear()
    return patient


def _exports(app) -> list[tuple[int | None, str, int | None, int | None, dict | None]]:
    """Every record.export audit row: (actor, object type, object id, patient, summary)."""
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "record.export").order_by(AuditEvent.id)
        ).all()
        return [(r.actor_id, r.object_type, r.object_id, r.patient_id, r.summary) for r in rows]


def _all_audit_rows(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(AuditEvent.id)).all())


def _check_file(response, name: str) -> bytes:
    """The download is an attachment of the right type, never cached; returns its bytes."""
    assert response.status_code == 200, (name, response.status_code)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    if name.endswith(".csv"):
        assert response.headers["Content-Type"] == CSV_TYPE
        assert body.startswith("\ufeff".encode())  # Excel reads UTF-8 with its byte order mark
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert rows, name
        assert rows[0], name  # a header row at least
    else:
        assert response.headers["Content-Type"] == "application/fhir+json"
        assert json.loads(body)["resourceType"] == "Bundle"
    return body


def _patient_resource(body: bytes) -> dict:
    (found,) = [
        entry["resource"]
        for entry in json.loads(body)["entry"]
        if entry["resource"]["resourceType"] == "Patient"
    ]
    return found


# --- the patient -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_patient_downloads_each_file_of_their_own_record(app, client, record, name):
    login_as(client, record)
    response = client.get(f"/export/{name}")
    body = _check_file(response, name)
    assert response.headers["Content-Disposition"] == f'attachment; filename="taper-my-{name}"'
    assert _exports(app) == [(record.id, "user", record.id, record.id, {"format": FORMATS[name]})]
    if name == "record.fhir.json":
        assert _patient_resource(body)["id"] == f"patient-{record.id}"
    if name == "logs.csv":
        assert LOG_NOTE in body.decode("utf-8-sig")
    if name == "visits.csv":
        assert VISIT_NOTE in body.decode("utf-8-sig")


def test_the_old_csv_address_is_the_logs_file(app, client, record):
    login_as(client, record)
    old = client.get("/export.csv")
    new = client.get("/export/logs.csv")
    assert _check_file(old, "logs.csv") == _check_file(new, "logs.csv")
    assert old.headers["Content-Disposition"] == 'attachment; filename="taper-my-logs.csv"'
    assert [row[4] for row in _exports(app)] == [{"format": "logs"}] * 2


def test_patients_copy_has_no_draft_plan_and_the_clinicians_has(app, client, clinician, record):
    login_as(client, record)
    mine = client.get("/export/plans.csv").get_data().decode("utf-8-sig")
    login_as(client, clinician)
    theirs = client.get(f"/clinician/patients/{record.id}/export/plans.csv")
    theirs = theirs.get_data().decode("utf-8-sig")
    assert "diazepam" in mine
    assert DRAFT_MEDICATION not in mine
    assert DRAFT_MEDICATION in theirs
    rows = list(csv.reader(io.StringIO(theirs)))
    assert any(DRAFT_MEDICATION in row and "draft" in row for row in rows)


def _medications(body: bytes) -> set[str]:
    """The medication text of every MedicationRequest of a Bundle."""
    return {
        json.dumps(entry["resource"].get("medicationCodeableConcept", {})).lower()
        for entry in json.loads(body)["entry"]
        if entry["resource"]["resourceType"] == "MedicationRequest"
    }


def test_fhir_drafts_only_in_the_clinicians_bundle(app, client, clinician, record):
    login_as(client, record)
    mine = _medications(client.get("/export/record.fhir.json").get_data())
    login_as(client, clinician)
    theirs = _medications(
        client.get(f"/clinician/patients/{record.id}/export/record.fhir.json").get_data()
    )
    assert any("diazepam" in text for text in mine)
    assert not any(DRAFT_MEDICATION in text for text in mine)
    assert any(DRAFT_MEDICATION in text for text in theirs)


@pytest.mark.parametrize(
    "name", ["secrets.csv", "record.json", "LOGS.CSV", "logs.csv.bak", "..%2Flogs.csv", "x"]
)
def test_unknown_file_name_is_404_and_writes_nothing(app, client, clinician, record, name):
    before = _all_audit_rows(app)
    login_as(client, record)
    assert client.get(f"/export/{name}").status_code == 404
    login_as(client, clinician)
    assert client.get(f"/clinician/patients/{record.id}/export/{name}").status_code == 404
    assert _all_audit_rows(app) == before


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.one_of(st.text(max_size=30), st.sampled_from([*NAMES, "\x00", "..", "logs.csv\n"])))
def test_any_file_name_is_the_file_or_404_never_500(app, client, clinician, patient, value):
    """A refusal writes no audit row; "//" in the path is merged by a redirect on this site."""
    for user, prefix in (
        (patient, "/export"),
        (clinician, f"/clinician/patients/{patient.id}/export"),
    ):
        login_as(client, user)
        before = _all_audit_rows(app)
        response = client.get(f"{prefix}/{quote(value, safe='')}")
        response.close()
        if value in EXPORT_FILES:
            assert response.status_code == 200
            assert _all_audit_rows(app) == before + 1
        else:
            assert response.status_code in (404, 308), (value, response.status_code)
            assert _all_audit_rows(app) == before


def test_the_audit_row_is_committed_before_the_file_is_sent(app, client, record):
    """The body is not read yet, and the row is already there (on PostgreSQL, seen from
    another connection: committed)."""
    login_as(client, record)
    response = client.get("/export/record.fhir.json", buffered=False)
    try:
        assert response.is_streamed
        assert len(_exports(app)) == 1
        assert json.loads(response.get_data())["resourceType"] == "Bundle"
    finally:
        response.close()


def test_a_single_export_costs_the_same_queries_however_many_logs(
    app, client, record, count_queries
):
    login_as(client, record)

    def cost(name: str) -> int:
        with count_queries() as statements:
            response = client.get(f"/export/{name}")
            assert response.status_code == 200
            assert response.get_data()  # the streamed body's queries count too
        return len(statements)

    few = {name: cost(name) for name in ("logs.csv", "record.fhir.json")}
    for note in ("A correction", "Another", "And one more", "The last"):
        assert client.post("/log", data=fill_log(client, note=note)).status_code == 302
    assert {name: cost(name) for name in few} == few


# --- the clinician ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_clinician_downloads_each_file_of_a_care_team_patient(app, client, clinician, record, name):
    login_as(client, clinician)
    response = client.get(f"/clinician/patients/{record.id}/export/{name}")
    body = _check_file(response, name)
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="taper-patient-{record.id}-{name}"'
    )
    assert _exports(app) == [
        (clinician.id, "user", record.id, record.id, {"format": FORMATS[name]})
    ]
    if name == "record.fhir.json":
        assert _patient_resource(body)["id"] == f"patient-{record.id}"
    if name == "alerts.csv":
        assert len(list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))) >= 1


def test_clinician_off_the_care_team_gets_404_for_every_file(app, client, make_user, record):
    outsider = make_user(Role.CLINICIAN, name="Dr Olu Outsider")
    make_user(Role.PATIENT, name="Own Caseload", clinicians=(outsider,))
    login_as(client, outsider)
    before = _all_audit_rows(app)
    for name in (*NAMES, "nonsense.csv"):
        response = client.get(f"/clinician/patients/{record.id}/export/{name}")
        assert response.status_code == 404, name
        assert record.name.encode() not in response.get_data()
    assert client.get("/clinician/patients/999999/export/logs.csv").status_code == 404
    assert _all_audit_rows(app) == before


def test_clinician_cannot_reach_a_clinician_or_admin_by_id(app, client, clinician, admin):
    login_as(client, clinician)
    for user in (clinician, admin):
        for name in NAMES:
            assert client.get(f"/clinician/patients/{user.id}/export/{name}").status_code == 404
    assert _exports(app) == []


# --- the care team's ZIP ---------------------------------------------------------------------


def test_care_team_zip_holds_each_team_patient_once_and_audits_each(
    app, client, clinician, make_user, record
):
    second = make_user(Role.PATIENT, name="Second Teammate", clinicians=(clinician,))
    other_clinician = make_user(Role.CLINICIAN, name="Dr Elsewhere")
    stranger = make_user(Role.PATIENT, name="Not Yours", clinicians=(other_clinician,))
    login_as(client, clinician)
    response = client.get("/clinician/patients/export.zip")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="taper-care-team-20')
    assert disposition.endswith('.zip"')
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        names = sorted(archive.namelist())
        bundles = {name: json.loads(archive.read(name)) for name in names}
    assert names == sorted(f"patient-{p.id}.json" for p in (record, second))
    for patient in (record, second):
        bundle = bundles[f"patient-{patient.id}.json"]
        assert bundle["resourceType"] == "Bundle"
        ids = [
            e["resource"]["id"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Patient"
        ]
        assert ids == [f"patient-{patient.id}"]
    assert f"patient-{stranger.id}.json" not in names
    rows = _exports(app)
    assert sorted(rows) == sorted(
        (clinician.id, "user", p.id, p.id, {"format": "fhir-zip"}) for p in (record, second)
    )


def test_care_team_zip_of_an_empty_team_audits_nothing(app, client, make_user):
    lonely = make_user(Role.CLINICIAN, name="Dr New Starter")
    login_as(client, lonely)
    response = client.get("/clinician/patients/export.zip")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        assert archive.namelist() == []
    assert _exports(app) == []


# --- everyone else ---------------------------------------------------------------------------


def _all_urls(patient_id: int) -> list[str]:
    return [
        "/export.csv",
        *(f"/export/{name}" for name in NAMES),
        *(f"/clinician/patients/{patient_id}/export/{name}" for name in NAMES),
        "/clinician/patients/export.zip",
    ]


def test_admin_is_refused_every_export(app, client, admin, record):
    login_as(client, admin)
    for url in _all_urls(record.id):
        response = client.get(url)
        assert response.status_code == 403, url
        assert record.name.encode() not in response.get_data()
    assert _exports(app) == []


def test_patient_is_refused_the_clinician_exports(app, client, record):
    login_as(client, record)
    for url in _all_urls(record.id):
        if url.startswith("/clinician/"):
            assert client.get(url).status_code == 403, url
    assert _exports(app) == []


def test_anonymous_is_sent_to_log_in(app, client, record):
    for url in _all_urls(record.id):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login?next="), url
    assert _exports(app) == []


def test_another_patient_downloads_only_their_own_record(app, client, make_user, clinician, record):
    neighbour = make_user(Role.PATIENT, name="Pat Neighbour", clinicians=(clinician,))
    login_as(client, neighbour)
    for name in NAMES:
        body = client.get(f"/export/{name}").get_data()
        assert record.name.encode() not in body, name
        assert LOG_NOTE.encode() not in body, name
        assert VISIT_NOTE.encode() not in body, name
        assert DRAFT_MEDICATION.encode() not in body, name
    assert {row[3] for row in _exports(app)} == {neighbour.id}


# --- the links on the pages ------------------------------------------------------------------


def _hrefs(page: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', page))


def test_my_details_lists_the_record_files_and_each_link_downloads(app, client, record):
    login_as(client, record)
    page = client.get("/account/details").get_data(as_text=True)
    assert "Your records" in page
    assert "For another clinic's computer system (FHIR)" in page
    assert "Spreadsheet files (CSV)" in page
    links = {f"/export/{name}" for name in NAMES}
    assert links <= _hrefs(page)
    for url in sorted(links):
        assert client.get(url).status_code == 200, url
    history = client.get("/history").get_data(as_text=True)
    assert "/export/logs.csv" in _hrefs(history)


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.ADMIN])
def test_my_details_of_staff_has_no_records_section(client, make_user, role):
    login_as(client, make_user(role))
    page = client.get("/account/details").get_data(as_text=True)
    assert "Your records" not in page
    assert "/export" not in page


def test_clinician_pages_link_to_the_exports(client, clinician, record):
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{record.id}").get_data(as_text=True)
    assert 'id="export-heading">Export</h2>' in page
    assert {f"/clinician/patients/{record.id}/export/{name}" for name in NAMES} <= _hrefs(page)
    listing = client.get("/clinician/patients").get_data(as_text=True)
    assert "/clinician/patients/export.zip" in _hrefs(listing)
    assert "Download every patient's record (ZIP of FHIR files)" in listing
    logs = client.get(f"/clinician/patients/{record.id}/logs").get_data(as_text=True)
    assert "/export" not in logs  # the patient's own link is not on the clinician's copy


def test_exports_are_clinical_events_the_admin_audit_page_leaves_out(app, client, admin, record):
    login_as(client, record)
    assert client.get("/export/logs.csv").status_code == 200
    assert len(_exports(app)) == 1
    login_as(client, admin)
    page = client.get(f"/admin/audit?patient={record.id}").get_data(as_text=True)
    assert "record.export" not in page


# --- HEAD, and a download that fails part-way ----------------------------------------------


def test_a_head_request_is_refused_and_audits_nothing(app, client, clinician, record):
    """HEAD would run the download's use case (an audit row) without sending the file."""
    for user, urls in (
        (record, ["/export.csv", *(f"/export/{name}" for name in NAMES)]),
        (
            clinician,
            [
                *(f"/clinician/patients/{record.id}/export/{name}" for name in NAMES),
                "/clinician/patients/export.zip",
            ],
        ),
    ):
        login_as(client, user)
        for url in urls:
            response = client.head(url)
            assert response.status_code == 405, url
    assert _exports(app) == []


def test_a_head_request_for_a_chart_or_the_visit_report_is_refused_and_audits_nothing(
    app, client, clinician, record
):
    """A chart image or the PDF is audited as a view or a download: HEAD sends neither."""
    urls = [
        f"/charts/{record.id}/progress.png",
        f"/charts/{record.id}/progress.svg",
        f"/reports/{record.id}.pdf",
    ]
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    for user, shown in ((record, urls), (clinician, [*urls, f"/charts/{record.id}/symptoms.png"])):
        login_as(client, user)
        for url in shown:
            assert client.head(url).status_code == 405, url
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
    assert client.get(urls[0]).status_code == 200  # GET still works


def test_a_download_that_fails_part_way_is_logged(app, client, record, monkeypatch, caplog):
    from taper.services import fhir_export

    def broken(*_args, **_kwargs):
        yield "urn:uuid:1", {"resourceType": "Patient", "id": "p"}
        raise RuntimeError("database went away")

    monkeypatch.setattr(fhir_export, "_entries", broken)
    login_as(client, record)
    response = client.get("/export/record.fhir.json")
    assert response.status_code == 200  # the status went out before the failure
    with pytest.raises(RuntimeError, match="database went away"):
        response.get_data()
    (logged,) = [r for r in caplog.records if "stopped part-way" in r.getMessage()]
    assert "taper-my-record.fhir.json" in logged.getMessage()
    assert len(_exports(app)) == 1  # the audit row stands: the download began
