"""The CSV exports (issue 17 item 3): logs, plans, alerts and visits, each read back with
csv.reader and compared with the database; holds and pauses date the steps as the timeline
does; drafts stay out of the patient's copy; formulas are neutralised in every cell; the byte
order mark leads every file; one patient's rows never reach another's; the query count does
not grow with the record."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models import (
    Alert,
    AlertStatus,
    DailyLog,
    LogDose,
    PlanRevision,
    PlanStatus,
    RedFlagReport,
    Role,
    TaperPlan,
    TaperStep,
    User,
    VisitAssessment,
)
from taper.services import export
from tests.conftest import login_as
from tests.helpers import fill_log, plan_form, version_of
from tests.plans.timeline_posts import confirmed

BOM = "\ufeff"
PLAN_HEADER = [
    "plan_id",
    "medication",
    "unit",
    "plan_status",
    "revision",
    "revision_saved_at_utc",
    "saved_by",
    "reason",
    "current",
    "hold_kind",
    "hold_start",
    "hold_until",
    "step",
    "step_start",
    "step_end",
    "step_date_as_saved",
    "total_daily_dose",
    "morning",
    "midday",
    "evening",
    "bedtime",
    "note",
]
ALERT_HEADER = [
    "alert_id",
    "raised_at_utc",
    "kind",
    "tier",
    "status",
    "reason",
    "plan_id",
    "log_day",
    "acknowledged_by",
    "acknowledged_at_utc",
    "resolved_by",
    "resolved_at_utc",
    "note",
    "quote",
]
ITEMS = [item.key for item in CIWA_B.items]
VISIT_HEADER = ["day", "recorded_at_utc", "clinician", "total", "note", *ITEMS]
LOG_HEADER = [
    "day",
    "version",
    "saved_at_utc",
    "symptom_score",
    "red_flags",
    "red_flags_when",
    "alcohol_opioids_sedatives",
    "what_else_taken",
    "sleep_hours",
    "note",
    *(item.key for item in CIWA_B.patient_items),
]
# 4 -> 3 -> 2 -> 1 -> 0 mg, a week apart, from Monday 4 January 2027.
WEEKLY = [
    (date(2027, 1, 4), "4", {"morning": "2", "bedtime": "2"}, "Split the day"),
    (date(2027, 1, 11), "3", {}, ""),
    (date(2027, 1, 18), "2", {}, ""),
    (date(2027, 1, 25), "1", {}, ""),
    (date(2027, 2, 1), "0", {}, "Stopped"),
]
PAYLOADS = ['=HYPERLINK("http://evil","x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"]


def at(day: date, hour: int = 15):
    """Travel to ``day`` at ``hour`` UTC (10:00 for the fixtures' New York patients)."""
    return time_machine.travel(datetime(day.year, day.month, day.day, hour, tzinfo=UTC), tick=False)


def read(text: str) -> list[list[str]]:
    """The rows of a CSV file after its byte order mark, the header first."""
    assert text.startswith(BOM)
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text[len(BOM) :], newline="")))


def records(text: str) -> list[dict[str, str]]:
    """The data rows as header -> cell."""
    header, *rows = read(text)
    return [dict(zip(header, row, strict=True)) for row in rows]


def export_of(app, patient: User, name: str, **kwargs) -> str:
    """One export of ``patient``, made in an app context of its own."""
    with app.app_context():
        return getattr(export, name)(db.session.get(User, patient.id), **kwargs)


def act(client, app, clinician, patient, plan_id: int, day: date, url: str, **data) -> None:
    """A hold, release, pause or resume as the clinician confirms it on ``day``."""
    with at(day):
        login_as(client, clinician)
        data = {"reason": "Reviewed with the patient", **data}
        data["version"] = version_of(app, plan_id)
        done = confirmed(client, f"/clinician/plans/{plan_id}/{url}", patient, **data)
        assert done.status_code == 302, done.text[-2000:]


@pytest.fixture
def weekly(client, app, clinician, patient, write_plan) -> int:
    with at(date(2026, 12, 20)):
        login_as(client, clinician)
        return write_plan(patient, WEEKLY)


def steps_of(rows: list[dict[str, str]], revision: str) -> list[tuple[str, str, str, str]]:
    """(step start, step end, date as saved, total) of one revision's rows."""
    return [
        (r["step_start"], r["step_end"], r["step_date_as_saved"], r["total_daily_dose"])
        for r in rows
        if r["revision"] == revision
    ]


# --- the empty record, the header, the byte order mark --------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "header"),
    [
        ("logs_csv", {}, LOG_HEADER),
        ("plans_csv", {"include_drafts": True}, PLAN_HEADER),
        ("plans_csv", {"include_drafts": False}, PLAN_HEADER),
        ("alerts_csv", {}, ALERT_HEADER),
        ("visits_csv", {}, VISIT_HEADER),
    ],
)
def test_an_empty_record_gives_the_bom_and_just_the_header(app, patient, name, kwargs, header):
    text = export_of(app, patient, name, **kwargs)
    assert text == BOM + ",".join(header) + "\r\n"
    assert read(text) == [header]
    assert len(VISIT_HEADER) == 25  # all 20 CIWA-B items


def test_the_patients_own_download_starts_with_the_utf8_bom(client, patient, active_plan):
    login_as(client, patient)
    assert client.post("/log", data=fill_log(client, note="Café, 😴")).status_code == 302
    body = client.get("/export.csv").get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    (row,) = records(body.decode("utf-8"))
    assert row["note"] == "Café, 😴"


# --- plans ----------------------------------------------------------------------------------


def test_plans_csv_has_one_row_per_step_per_revision_as_saved(
    client, app, clinician, patient, weekly
):
    with at(date(2026, 12, 22)):
        login_as(client, clinician)
        revised = [*WEEKLY[:2], (date(2027, 1, 20), "1.5", {"evening": "1.5"}, "Slower"), WEEKLY[4]]
        response = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(revised, reason="Slower at 2 mg", version=version_of(app, weekly)),
        )
        assert response.status_code == 302
    rows = records(export_of(app, patient, "plans_csv", include_drafts=False))
    with app.app_context():
        plan = db.session.get(TaperPlan, weekly)
        saved = {r.number: (r.created_at.isoformat(), r.author.name) for r in plan.revisions}
        assert plan.status is PlanStatus.ACTIVE
    assert [r["revision"] for r in rows] == ["1"] * 5 + ["2"] * 4
    assert {r["plan_id"] for r in rows} == {str(weekly)}
    assert {(r["medication"], r["unit"], r["plan_status"]) for r in rows} == {
        ("diazepam", "mg", "active")
    }
    for row in rows:
        assert (row["revision_saved_at_utc"], row["saved_by"]) == saved[int(row["revision"])]
        assert row["saved_by"] == "Dr Ada Quinn"
        assert row["revision_saved_at_utc"].endswith("+00:00")
        assert (row["hold_kind"], row["hold_start"], row["hold_until"]) == ("", "", "")
    assert [(r["reason"], r["current"]) for r in rows] == [("", "no")] * 5 + [
        ("Slower at 2 mg", "yes")
    ] * 4
    first = [r for r in rows if r["revision"] == "1"]
    assert [
        [r[k] for k in ("step", "step_start", "step_end", "total_daily_dose")] for r in first
    ] == [
        ["1", "2027-01-04", "2027-01-10", "4"],
        ["2", "2027-01-11", "2027-01-17", "3"],
        ["3", "2027-01-18", "2027-01-24", "2"],
        ["4", "2027-01-25", "2027-01-31", "1"],
        ["5", "2027-02-01", "", "0"],
    ]
    split = [first[0][k] for k in ("morning", "midday", "evening", "bedtime", "note")]
    assert split == ["2", "", "", "2", "Split the day"]
    assert first[4]["note"] == "Stopped"
    third = [r for r in rows if r["revision"] == "2"][2]
    assert [third[k] for k in ("step_start", "step_end", "total_daily_dose", "evening")] == [
        "2027-01-20",
        "2027-01-31",
        "1.5",
        "1.5",
    ]


def test_a_dated_hold_moves_the_later_steps(client, app, clinician, patient, weekly):
    act(client, app, clinician, patient, weekly, date(2027, 1, 5), "hold", until="2027-01-30")
    rows = records(export_of(app, patient, "plans_csv", include_drafts=False))
    held = [r for r in rows if r["revision"] == "2"]
    assert {(r["hold_kind"], r["hold_start"], r["hold_until"], r["current"]) for r in held} == {
        ("hold", "2027-01-05", "2027-01-30", "yes")
    }
    assert {r["reason"] for r in held} == {"Reviewed with the patient"}
    assert steps_of(rows, "2") == [
        ("2027-01-04", "2027-01-30", "2027-01-04", "4"),
        ("2027-01-31", "2027-02-06", "2027-01-31", "3"),
        ("2027-02-07", "2027-02-13", "2027-02-07", "2"),
        ("2027-02-14", "2027-02-20", "2027-02-14", "1"),
        ("2027-02-21", "", "2027-02-21", "0"),
    ]
    # The revision before the hold is kept as it was.
    assert steps_of(rows, "1")[1] == ("2027-01-11", "2027-01-17", "2027-01-11", "3")
    assert {r["current"] for r in rows if r["revision"] == "1"} == {"no"}


def test_an_open_hold_leaves_the_later_steps_undated_until_it_ends(
    client, app, clinician, patient, weekly
):
    act(client, app, clinician, patient, weekly, date(2027, 1, 13), "hold", until="")
    rows = records(export_of(app, patient, "plans_csv", include_drafts=False))
    assert {
        (r["hold_kind"], r["hold_start"], r["hold_until"]) for r in rows if r["revision"] == "2"
    } == {("hold", "2027-01-13", "")}
    assert steps_of(rows, "2") == [
        ("2027-01-04", "2027-01-10", "2027-01-04", "4"),
        ("2027-01-11", "", "2027-01-11", "3"),  # held until the clinician reviews it
        ("", "", "2027-01-18", "2"),
        ("", "", "2027-01-25", "1"),
        ("", "", "2027-02-01", "0"),
    ]
    act(client, app, clinician, patient, weekly, date(2027, 2, 3), "release-hold")
    rows = records(export_of(app, patient, "plans_csv", include_drafts=False))
    assert steps_of(rows, "3")[1:3] == [
        ("2027-01-11", "2027-02-03", "2027-01-11", "3"),  # a release takes effect tomorrow
        ("2027-02-04", "2027-02-10", "2027-02-04", "2"),
    ]


def test_a_pause_freezes_the_plan_and_resuming_moves_the_later_steps(
    client, app, clinician, patient, weekly
):
    act(client, app, clinician, patient, weekly, date(2027, 1, 13), "status", status="paused")
    rows = records(export_of(app, patient, "plans_csv", include_drafts=False))
    assert {r["plan_status"] for r in rows} == {"paused"}
    paused = [r for r in rows if r["revision"] == "2"]
    assert {(r["hold_kind"], r["hold_start"], r["hold_until"]) for r in paused} == {
        ("pause", "2027-01-13", "")
    }
    assert [(s, e) for s, e, _, _ in steps_of(rows, "2")] == [
        ("2027-01-04", "2027-01-10"),
        ("2027-01-11", ""),
        ("", ""),
        ("", ""),
        ("", ""),
    ]
    act(client, app, clinician, patient, weekly, date(2027, 1, 23), "status", status="active")
    rows = records(export_of(app, patient, "plans_csv", include_drafts=False))
    resumed = [r for r in rows if r["current"] == "yes"]
    assert {(r["hold_kind"], r["hold_start"], r["hold_until"]) for r in resumed} == {
        ("pause", "2027-01-13", "2027-01-22")
    }
    # 3 mg had 5 days left on 13 Jan: it has them from 23 Jan, then 2 mg on 28 Jan.
    assert [(s, e) for s, e, _, _ in steps_of(rows, resumed[0]["revision"])] == [
        ("2027-01-04", "2027-01-10"),
        ("2027-01-11", "2027-01-27"),
        ("2027-01-28", "2027-02-03"),
        ("2027-02-04", "2027-02-10"),
        ("2027-02-11", ""),
    ]
    assert {r["plan_status"] for r in rows} == {"active"}


def test_drafts_appear_only_when_asked_for(client, app, clinician, patient, weekly, write_plan):
    with at(date(2026, 12, 21)):
        login_as(client, clinician)
        draft = write_plan(patient, WEEKLY[:2], activate=False, medication="lorazepam")
    own = export_of(app, patient, "plans_csv", include_drafts=False)
    assert {r["plan_id"] for r in records(own)} == {str(weekly)}
    assert "lorazepam" not in own
    full = records(export_of(app, patient, "plans_csv", include_drafts=True))
    assert {r["plan_id"] for r in full} == {str(weekly), str(draft)}
    drafted = [r for r in full if r["plan_id"] == str(draft)]
    assert [(r["medication"], r["plan_status"], r["step"]) for r in drafted] == [
        ("lorazepam", "draft", "1"),
        ("lorazepam", "draft", "2"),
    ]


# --- alerts ---------------------------------------------------------------------------------


def test_alerts_csv_rows_equal_the_database(client, app, clinician, patient, weekly):
    with at(date(2027, 1, 6)):
        login_as(client, patient)
        form = fill_log(client, flags=("seizure",), when="now", note="Shaking all morning")
        assert client.post("/log", data=form).status_code == 200  # the urgent-care page
        with app.app_context():
            assert db.session.scalars(select(DailyLog.note)).all() == ["Shaking all morning"]
            alert_ids = list(
                db.session.scalars(
                    select(Alert.id).where(Alert.patient_id == patient.id).order_by(Alert.id)
                )
            )
        assert alert_ids
        login_as(client, clinician)
        first = alert_ids[0]
        for action, note in (("acknowledge", "Called"), ("resolve", "Seen in ED")):
            response = client.post(f"/clinician/alerts/{first}/{action}", data={"note": note})
            assert response.status_code == 302
    rows = records(export_of(app, patient, "alerts_csv"))
    with app.app_context():
        alerts = db.session.scalars(
            select(Alert).where(Alert.patient_id == patient.id).order_by(Alert.created_at, Alert.id)
        ).all()
        expected = [
            {
                "alert_id": str(a.id),
                "raised_at_utc": a.created_at.isoformat(),
                "kind": a.kind,
                "tier": a.tier,
                "status": a.status.value,
                "reason": a.reason,
                "plan_id": "" if a.plan_id is None else str(a.plan_id),
                "log_day": "" if a.log is None else a.log.day.isoformat(),
                "acknowledged_by": a.acknowledged_by.name if a.acknowledged_by else "",
                "acknowledged_at_utc": a.acknowledged_at.isoformat() if a.acknowledged_at else "",
                "resolved_by": a.resolved_by.name if a.resolved_by else "",
                "resolved_at_utc": a.resolved_at.isoformat() if a.resolved_at else "",
                "note": a.note,
                "quote": a.quote,
            }
            for a in alerts
        ]
    assert rows == expected
    done = rows[0]
    assert done["tier"] == "urgent"
    assert done["log_day"] == "2027-01-06"
    assert (done["status"], done["acknowledged_by"], done["resolved_by"]) == (
        "resolved",
        "Dr Ada Quinn",
        "Dr Ada Quinn",
    )
    assert done["note"] == "Dr Ada Quinn: Called\nDr Ada Quinn: Seen in ED"
    assert done["acknowledged_at_utc"] == done["resolved_at_utc"] == "2027-01-06T15:00:00+00:00"


def test_an_alert_without_a_log_has_an_empty_log_day(client, app, patient):
    login_as(client, patient)
    help_form = {"red_flags": "seizure", "submission_id": "5" * 32}
    assert client.post("/help", data=help_form).status_code == 200
    (row,) = records(export_of(app, patient, "alerts_csv"))
    with app.app_context():
        (alert,) = db.session.scalars(select(Alert)).all()
        assert alert.log_id is None
        assert alert.report_id is not None
    assert (row["alert_id"], row["kind"], row["tier"]) == (str(alert.id), alert.kind, "urgent")
    assert (row["status"], row["log_day"], row["plan_id"]) == ("open", "", "")
    assert (row["acknowledged_by"], row["acknowledged_at_utc"], row["resolved_at_utc"]) == (
        "",
        "",
        "",
    )


# --- visits ---------------------------------------------------------------------------------


def test_visits_csv_has_all_twenty_items_as_recorded(client, app, clinician, patient):
    answers = {key: str(index % 5) for index, key in enumerate(ITEMS)}
    with at(date(2027, 1, 6)):
        login_as(client, clinician)
        response = client.post(
            f"/clinician/patients/{patient.id}/assessments/new",
            data={**answers, "note": "Tremor settling"},
        )
        assert response.status_code == 302, response.text[-1000:]
    with at(date(2027, 1, 20)):
        login_as(client, clinician)
        response = client.post(
            f"/clinician/patients/{patient.id}/assessments/new",
            data={**{key: "0" for key in ITEMS}, "note": ""},
        )
        assert response.status_code == 302
    first, second = records(export_of(app, patient, "visits_csv"))
    with app.app_context():
        saved = db.session.scalars(select(VisitAssessment).order_by(VisitAssessment.day)).all()
        assert [v.created_at.isoformat() for v in saved] == [
            first["recorded_at_utc"],
            second["recorded_at_utc"],
        ]
        assert [v.total for v in saved] == [int(first["total"]), 0]
    assert {key: first[key] for key in ITEMS} == answers
    assert (first["day"], first["clinician"], first["note"]) == (
        "2027-01-06",
        "Dr Ada Quinn",
        "Tremor settling",
    )
    assert first["total"] == str(sum(int(v) for v in answers.values()))
    assert first["recorded_at_utc"] == "2027-01-06T15:00:00+00:00"
    assert (second["day"], second["total"], second["note"]) == ("2027-01-20", "0", "")


# --- formulas in every file -----------------------------------------------------------------


def _store_everything(patient: User, clinician: User, text: str) -> None:
    """A plan, a log, an alert and a visit whose every free text is ``text``, stored as
    typed (the exports must be safe whatever is in the database)."""
    plan = TaperPlan(
        patient_id=patient.id,
        medication=text,
        created_by_id=clinician.id,
        status=PlanStatus.ACTIVE,
    )
    db.session.add(plan)
    db.session.flush()
    revision = PlanRevision(plan_id=plan.id, number=1, author_id=clinician.id, reason=text)
    revision.steps = [
        TaperStep(start_date=date(2027, 1, 4), total=Decimal("5"), morning=Decimal("5"), note=text)
    ]
    db.session.add(revision)
    db.session.flush()
    plan.current_revision_id = revision.id
    log = DailyLog(
        patient_id=patient.id,
        day=date(2027, 1, 5),
        submission_id=uuid.uuid4().hex,
        note=text,
        substances=True,
        substances_detail=text,
    )
    db.session.add(log)
    db.session.flush()
    db.session.add(
        Alert(
            patient_id=patient.id,
            kind="note",
            tier="review",
            reason=text,
            log_id=log.id,
            plan_id=plan.id,
            status=AlertStatus.ACKNOWLEDGED,
            acknowledged_by_id=clinician.id,
            acknowledged_at=datetime(2027, 1, 5, 16, tzinfo=UTC),
            note=text,
            quote=text,
        )
    )
    db.session.add(
        VisitAssessment(
            patient_id=patient.id,
            clinician_id=clinician.id,
            day=date(2027, 1, 6),
            answers={key: 1 for key in ITEMS},
            total=20,
            note=text,
        )
    )
    db.session.add(
        RedFlagReport(patient_id=patient.id, flags=[], submission_id="f" * 32, note=text)
    )
    db.session.commit()


@pytest.mark.parametrize("payload", PAYLOADS, ids=["hyperlink", "plus", "minus", "at", "tab", "cr"])
def test_formulas_are_neutralised_in_every_cell_of_every_file(app, make_user, payload):
    clinician = make_user(Role.CLINICIAN, name=payload)
    patient = make_user(clinicians=(clinician,))
    with app.app_context():
        _store_everything(db.session.get(User, patient.id), clinician, payload)
    safe = "'" + payload
    files = {
        "logs_csv": export_of(app, patient, "logs_csv"),
        "plans_csv": export_of(app, patient, "plans_csv", include_drafts=True),
        "alerts_csv": export_of(app, patient, "alerts_csv"),
        "visits_csv": export_of(app, patient, "visits_csv"),
        "red_flags_csv": export_of(app, patient, "red_flags_csv"),
    }
    for name, text in files.items():
        cells = [cell for row in read(text) for cell in row]
        assert not [c for c in cells if c.startswith(export.FORMULA_STARTS)], name
        assert payload not in cells, name
    (log,) = records(files["logs_csv"])
    assert (log["note"], log["what_else_taken"], log[f"{safe} dose taken (mg)"]) == (safe, safe, "")
    assert f"{safe} taken as scheduled" in read(files["logs_csv"])[0]
    (step,) = records(files["plans_csv"])
    assert [step[k] for k in ("medication", "saved_by", "reason", "note", "morning")] == [
        safe,
        safe,
        safe,
        safe,
        "5",
    ]
    (alert,) = records(files["alerts_csv"])
    assert [alert[k] for k in ("reason", "acknowledged_by", "note", "quote")] == [safe] * 4
    assert alert["log_day"] == "2027-01-05"
    (visit,) = records(files["visits_csv"])
    assert (visit["clinician"], visit["note"]) == (safe, safe)
    (report,) = records(files["red_flags_csv"])
    assert report["message"] == safe


def test_no_part_of_a_cell_after_a_semicolon_or_tab_starts_a_formula(app, make_user):
    """Spreadsheets in many locales split a line on ";" (or tabs), even inside quotes: a note
    "Fine today;=2+5" must not give a cell "=2+5" there either."""
    clinician = make_user(Role.CLINICIAN)
    patient = make_user(clinicians=(clinician,))
    text = "Fine today;=2+5*cmd|' /C calc'!A0; -1\t@SUM(1)\t\"=1"
    with app.app_context():
        _store_everything(db.session.get(User, patient.id), clinician, text)
    for name in ("logs_csv", "plans_csv", "alerts_csv", "visits_csv", "red_flags_csv"):
        kwargs = {"include_drafts": True} if name == "plans_csv" else {}
        for line in export_of(app, patient, name, **kwargs).lstrip(export.BOM).splitlines():
            for part in re.split(r"[;\t]", line):
                assert not re.match(r'[\s"]*[=+\-@]', part), (name, line)
    (log,) = records(export_of(app, patient, "logs_csv"))
    assert log["note"] == "Fine today;'=2+5*cmd|' /C calc'!A0;' -1\t'@SUM(1)\t'\"=1"


def test_red_flags_sent_without_a_log_are_a_file_of_their_own(app, client, patient):
    """ "I need help now" with a seizure and a message, and a report kept on the device and
    sent three days ago: each a row, sent and stored times apart, the patient's day."""
    from datetime import timedelta

    from taper.domain.schedule import local_today

    login_as(client, patient)
    page = client.get("/help").get_data(as_text=True)
    token = re.search(r'name="submission_id" value="(\w+)"', page).group(1)
    client.post("/help", data={"red_flags": "seizure", "submission_id": token, "note": "=1+1"})
    sent = datetime.now(UTC) - timedelta(days=3)
    with app.app_context():
        db.session.add(
            RedFlagReport(
                patient_id=patient.id,
                flags=["confusion"],
                submission_id="k" * 32,
                source="kept",
                when="past",
                reported_at=sent,
            )
        )
        db.session.commit()
    help_row, kept_row = records(export_of(app, patient, "red_flags_csv"))
    assert (help_row["red_flags"], help_row["source"], help_row["message"]) == (
        "seizure",
        "help",
        "'=1+1",
    )
    assert (kept_row["red_flags"], kept_row["red_flags_when"], kept_row["source"]) == (
        "confusion",
        "past",
        "kept",
    )
    assert kept_row["sent_at_utc"] == sent.isoformat()
    assert kept_row["stored_at_utc"] > kept_row["sent_at_utc"]
    assert kept_row["day"] == local_today(sent, patient.timezone).isoformat()
    download = client.get("/export/red_flags.csv")
    assert download.status_code == 200
    assert "seizure" in download.get_data(as_text=True)


# --- another patient's rows -----------------------------------------------------------------


def test_another_patients_rows_never_appear(app, make_user, clinician, patient):
    other = make_user(clinicians=(clinician,))
    with app.app_context():
        _store_everything(db.session.get(User, other.id), clinician, "Other patient's secret")
    for name, kwargs in [
        ("logs_csv", {}),
        ("plans_csv", {"include_drafts": True}),
        ("alerts_csv", {}),
        ("visits_csv", {}),
    ]:
        mine = export_of(app, patient, name, **kwargs)
        assert len(read(mine)) == 1, name  # the header only
        assert "secret" not in mine
        theirs = export_of(app, other, name, **kwargs)
        assert len(read(theirs)) == 2, name
        assert "Other patient's secret" in theirs


# --- query counts ---------------------------------------------------------------------------


def _store_once(patient: User, clinician: User, n: int) -> None:
    """One more plan with two revisions of two steps, a log, an alert and a visit."""
    plan = TaperPlan(patient_id=patient.id, medication=f"drug{n}", created_by_id=clinician.id)
    plan.status = PlanStatus.ACTIVE
    db.session.add(plan)
    db.session.flush()
    for number in (1, 2):
        revision = PlanRevision(plan_id=plan.id, number=number, author_id=clinician.id)
        revision.steps = [
            TaperStep(start_date=date(2027, 1, 4 + n), total=Decimal("4")),
            TaperStep(start_date=date(2027, 2, 4 + n), total=Decimal("2")),
        ]
        db.session.add(revision)
        db.session.flush()
        plan.current_revision_id = revision.id
    log = DailyLog(patient_id=patient.id, day=date(2027, 1, 5 + n), submission_id=uuid.uuid4().hex)
    db.session.add(log)
    db.session.flush()
    four = Decimal("4")
    db.session.add(
        LogDose(
            log_id=log.id,
            plan_id=plan.id,
            medication=plan.medication,
            dose_scheduled=four,
            took_as_scheduled=True,
            dose_taken=four,
        )
    )
    db.session.add(
        Alert(
            patient_id=patient.id,
            kind="urgent",
            tier="urgent",
            reason="r",
            log_id=log.id,
            status=AlertStatus.RESOLVED,
            acknowledged_by_id=clinician.id,
            acknowledged_at=datetime(2027, 1, 5, tzinfo=UTC),
            resolved_by_id=clinician.id,
            resolved_at=datetime(2027, 1, 6, tzinfo=UTC),
        )
    )
    db.session.add(
        VisitAssessment(
            patient_id=patient.id,
            clinician_id=clinician.id,
            day=date(2027, 1, 6 + n),
            answers={key: 0 for key in ITEMS},
            total=0,
        )
    )
    db.session.commit()


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("logs_csv", {}),
        ("plans_csv", {"include_drafts": True}),
        ("alerts_csv", {}),
        ("visits_csv", {}),
    ],
)
def test_the_query_count_does_not_grow_with_the_record(
    app, make_user, clinician, count_queries, name, kwargs
):
    counts = []
    rows = []
    # Two clinicians so the names are loaded for more than one person.
    second = make_user(Role.CLINICIAN)
    for size in (1, 6):
        patient = make_user(clinicians=(clinician,))
        with app.app_context():
            me = db.session.get(User, patient.id)
            for n in range(size):
                _store_once(me, clinician if n % 2 else second, n)
            db.session.expire_all()
        with app.app_context():
            me = db.session.get(User, patient.id)
            with count_queries() as statements:
                text = getattr(export, name)(me, **kwargs)
            counts.append(len(statements))
            rows.append(len(read(text)) - 1)
    assert rows[1] > rows[0] > 0
    assert counts[0] == counts[1], counts
