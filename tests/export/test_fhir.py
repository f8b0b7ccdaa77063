"""The FHIR export: every resource valid by HL7's R4B models (fhir.resources), every reference
inside the Bundle, ids stable, and the Bundle read back gives what the database holds."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, select

from taper.domain.alert_rules import LogFacts, red_flag_rule
from taper.domain.instrument import CIWA_B
from taper.domain.schedule import local_today
from taper.domain.timeline import dose_on, step_periods
from taper.extensions import db
from taper.models import (
    Alert,
    AlertStatus,
    DailyLog,
    LogDose,
    PlanStatus,
    Role,
    TaperPlan,
    User,
    VisitAssessment,
    find_user_by_email,
)
from taper.seed.demo import CLINICIAN_EMAIL, seed_demo
from taper.services import accounts, alerts, assessments, fhir_export, plans


def _today(patient: User) -> date:
    return local_today(datetime.now(UTC), patient.timezone)


@pytest.fixture
def record(app):
    """The demo's three patients (a hold, a crossover, an urgent alert), and more: a draft
    plan split by time of day, a revised plan, a pause, an open hold, a visit, a corrected
    log, and one alert acknowledged and resolved."""
    with app.app_context():
        seed_demo()
        db.session.commit()
        clinician = find_user_by_email(CLINICIAN_EMAIL)
        pat = find_user_by_email("pat@example.org")
        sam = find_user_by_email("sam@example.org")
        jo = find_user_by_email("jo@example.org")
        today = _today(pat)
        plans.create_plan(
            clinician,
            pat,
            "oxazepam",
            [
                {
                    "start": (today + timedelta(days=30)).isoformat(),
                    "total": "30",
                    "morning": "10",
                    "bedtime": "20",
                    "note": '=HYPERLINK("x")',
                },
                {
                    "start": (today + timedelta(days=44)).isoformat(),
                    "total": "22.5",
                    "morning": "7.5",
                    "bedtime": "15",
                },
            ],
            reason="Draft for after the diazepam",
        )
        # After Pat's hold (40 to 33 days ago) ended, a revision typed by hand adds a step
        # inside it: the app still holds 10 mg on those days, and so must the export.
        pat_plan = plans.plans_for_patient(pat, include_drafts=False)[0]
        typed = [
            {"start": s.start.isoformat(), "total": str(s.total)}
            for s in plans.step_inputs(pat_plan.current_revision)
        ]
        typed.append({"start": (today - timedelta(days=36)).isoformat(), "total": "9"})
        typed.sort(key=lambda row: row["start"])
        plans.revise_plan(clinician, pat_plan, pat_plan.version, typed, "An extra 9 mg step")
        sam_plan = plans.plans_for_patient(sam, include_drafts=False)[0]
        steps = plans.step_inputs(sam_plan.current_revision)
        rows = [{"start": s.start.isoformat(), "total": str(s.total)} for s in steps]
        rows[-1]["total"] = "0.5"
        plans.revise_plan(clinician, sam_plan, sam_plan.version, rows, "Smaller last cut")
        db.session.flush()
        plans.apply_timeline_change(
            clinician, sam_plan, sam_plan.version, "pause", today, "Hospital stay"
        )
        jo_plan = plans.plans_for_patient(jo, include_drafts=False)[0]
        plans.apply_timeline_change(
            clinician, jo_plan, jo_plan.version, "hold", today, "Hard week", until=None
        )
        db.session.commit()
        assessments.record_visit(
            clinician, pat, {item.key: str(item.number % 5) for item in CIWA_B.items}, "Steady"
        )
        first = db.session.scalar(
            select(DailyLog).where(DailyLog.patient_id == pat.id).order_by(DailyLog.day)
        )
        db.session.add(
            DailyLog(
                patient_id=pat.id,
                day=first.day,
                version=2,
                submission_id=uuid.uuid4().hex,
                answers={item.key: 4 for item in CIWA_B.patient_items},
                patient_total=68,
                red_flags=[],
                sleep_hours=Decimal("3.5"),
                note="Corrected: a very bad day",
                doses=[
                    LogDose(
                        plan_id=d.plan_id,
                        medication=d.medication,
                        unit=d.unit,
                        dose_scheduled=d.dose_scheduled,
                        took_as_scheduled=False,
                        dose_taken=Decimal("0"),
                    )
                    for d in first.doses
                ],
            )
        )
        db.session.commit()
        urgent = db.session.scalar(select(Alert).where(Alert.patient_id == sam.id))
        alerts.acknowledge(clinician, urgent, "Called Sam")
        alerts.resolve(clinician, urgent, "Seen at the clinic, fine")
        jo_last = db.session.scalar(
            select(DailyLog).where(DailyLog.patient_id == jo.id).order_by(DailyLog.day.desc())
        )
        alerts.raise_alert(
            jo, red_flag_rule(LogFacts(today, 0, ("seizure",))), log_id=jo_last.id, quote="a fit"
        )
        db.session.commit()
        return {"clinician": clinician.id, "pat": pat.id, "sam": sam.id, "jo": jo.id}


def _exported(app, patient_id: int, include_drafts: bool = True) -> dict:
    with app.app_context():
        return fhir_export.bundle(db.session.get(User, patient_id), include_drafts=include_drafts)


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _references(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for value in node for r in _references(value)]
    return []


def _empty_elements(node, path="") -> list[str]:
    """Every empty object, list or string (FHIR's rule ele-1: an element has a value or
    children), by its path."""
    if node in ({}, [], ""):
        return [path]
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _empty_elements(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in _empty_elements(value, f"{path}[{i}]")]
    return []


KINDS = {
    "Patient",
    "Practitioner",
    "Questionnaire",
    "MedicationRequest",
    "MedicationStatement",
    "QuestionnaireResponse",
    "Observation",
    "DetectedIssue",
    "Flag",
}


def test_every_resource_is_valid_r4b_and_every_reference_resolves_inside(app, record):
    for key in ("pat", "sam", "jo"):
        bundle = _exported(app, record[key])
        Bundle.model_validate(bundle)  # the whole Bundle, every resource in it
        for entry in bundle["entry"]:
            resource = entry["resource"]
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        urls = [e["fullUrl"] for e in bundle["entry"]]
        assert len(urls) == len(set(urls))
        missing = set(_references(bundle["entry"])) - set(urls)
        assert not missing
        assert not _empty_elements(bundle), "FHIR forbids empty objects, lists and strings"
        canonicals = {q["url"] for q in _resources(bundle, "Questionnaire")}
        for response in _resources(bundle, "QuestionnaireResponse"):
            assert response["questionnaire"] in canonicals
        assert bundle["type"] == "collection"
    everything = {r["resourceType"] for key in ("pat", "jo") for r in _entries(app, record[key])}
    assert everything == KINDS


def _entries(app, patient_id):
    return [e["resource"] for e in _exported(app, patient_id)["entry"]]


def test_ids_and_full_urls_are_the_same_in_every_export(app, record):
    first, second = _exported(app, record["pat"]), _exported(app, record["pat"])
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]
    assert [e["resource"]["id"] for e in first["entry"]] == [
        e["resource"]["id"] for e in second["entry"]
    ]
    assert first["entry"] == second["entry"]


def test_a_round_trip_gives_the_doses_dates_and_answers_in_the_database(app, record):
    for key in ("pat", "sam", "jo"):
        parsed = Bundle.model_validate(_exported(app, record[key]))
        by_kind: dict[str, list] = {}
        for entry in parsed.entry:
            by_kind.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
        with app.app_context():
            patient = db.session.get(User, record[key])
            _same_plans(patient, by_kind["MedicationRequest"])
            _same_logs(patient, by_kind)
            _same_visits(patient, by_kind)


def _same_days_as_dose_on(patient: User, requests) -> None:
    """Day by day, each revision's dosages in force add up to the dose the app schedules
    that day with that revision (``dose_on``), and none is in force when it says none."""
    revisions = {
        f"plan-{plan.id}-revision-{revision.number}": revision
        for plan in plans.plans_for_patient(patient, include_drafts=True)
        for revision in plan.revisions
    }
    for request in requests:
        revision = revisions[request.id]
        steps, hold = plans.step_inputs(revision), plans.hold_of(revision)
        first = steps[0].start - timedelta(days=3)
        for offset in range((steps[-1].start - first).days + 60):
            day = first + timedelta(days=offset)
            in_force = [
                Decimal(str(d.doseAndRate[0].doseQuantity.value))
                for d in request.dosageInstruction
                if d.timing.repeat is not None
                and d.timing.repeat.boundsPeriod is not None
                and _date(d.timing.repeat.boundsPeriod.start) <= day
                and (
                    d.timing.repeat.boundsPeriod.end is None
                    or day <= _date(d.timing.repeat.boundsPeriod.end)
                )
            ]
            scheduled = dose_on(steps, day, hold).step
            assert (sum(in_force) if in_force else None) == (
                None if scheduled is None else scheduled.total
            ), (request.id, day)


def _same_plans(patient: User, requests) -> None:
    """Each revision's steps: the dose of each part of the day, and the days in force."""
    _same_days_as_dose_on(patient, requests)
    expected = {}
    for plan in plans.plans_for_patient(patient, include_drafts=True):
        for revision in plan.revisions:
            rows = []
            periods = step_periods(plans.step_inputs(revision), plans.hold_of(revision))
            for number, period in enumerate(periods, start=1):
                parts = period.step.split or (("total", period.step.total),)
                for part, dose in parts:
                    rows.append((number, part, dose, period.start, period.end))
            expected[f"plan-{plan.id}-revision-{revision.number}"] = rows
    found = {}
    when = {"MORN": "morning", "NOON": "midday", "EVE": "evening", "HS": "bedtime"}
    for request in requests:
        rows = []
        for dosage in request.dosageInstruction:
            repeat = dosage.timing.repeat
            bounds = repeat.boundsPeriod if repeat else None
            part = when[repeat.when[0]] if repeat and repeat.when else "total"
            rows.append(
                (
                    dosage.sequence,
                    part,
                    Decimal(str(dosage.doseAndRate[0].doseQuantity.value)),
                    _date(bounds.start) if bounds else None,
                    _date(bounds.end) if bounds and bounds.end else None,
                )
            )
        found[request.id] = rows
    assert found == expected


def _date(value) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else value.date()


def _same_logs(patient: User, by_kind) -> None:
    latest = (
        select(DailyLog.day, func.max(DailyLog.version).label("v"))
        .where(DailyLog.patient_id == patient.id)
        .group_by(DailyLog.day)
        .subquery()
    )
    logs = list(
        db.session.scalars(
            select(DailyLog)
            .join(latest, (DailyLog.day == latest.c.day) & (DailyLog.version == latest.c.v))
            .where(DailyLog.patient_id == patient.id)
        )
    )
    answers = {
        r.id: {item.linkId: int(item.answer[0].valueCoding.code) for item in r.item}
        for r in by_kind["QuestionnaireResponse"]
        if r.id.startswith("log-")
    }
    assert answers == {f"log-{patient.id}-{e.day:%Y%m%d}": e.answers for e in logs}
    scores = {o.id: o.valueInteger for o in by_kind["Observation"] if o.id.endswith("-score")}
    sleep = {
        o.id: Decimal(str(o.valueQuantity.value))
        for o in by_kind["Observation"]
        if o.id.endswith("-sleep")
    }
    assert {k: v for k, v in scores.items() if k.startswith("log-")} == {
        f"log-{patient.id}-{e.day:%Y%m%d}-score": e.patient_total for e in logs
    }
    assert sleep == {f"log-{patient.id}-{e.day:%Y%m%d}-sleep": e.sleep_hours for e in logs}
    taken = {
        (s.effectiveDateTime.isoformat()[:10], s.medicationCodeableConcept.text): (
            Decimal(str(s.dosage[0].doseAndRate[0].doseQuantity.value)),
            s.status,
        )
        for s in by_kind["MedicationStatement"]
    }
    assert taken == {
        (e.day.isoformat(), d.medication): (
            d.dose_taken,
            "not-taken" if d.dose_taken == 0 else "completed",
        )
        for e in logs
        for d in e.doses
    }


def _same_visits(patient: User, by_kind) -> None:
    visits = db.session.scalars(
        select(VisitAssessment).where(VisitAssessment.patient_id == patient.id)
    ).all()
    found = {
        r.id: {item.linkId: int(item.answer[0].valueCoding.code) for item in r.item}
        for r in by_kind["QuestionnaireResponse"]
        if r.id.startswith("visit-")
    }
    assert found == {f"visit-{v.id}": v.answers for v in visits}


def test_a_corrected_day_exports_its_latest_version_as_amended(app, record):
    bundle = _exported(app, record["pat"])
    amended = [r for r in _resources(bundle, "QuestionnaireResponse") if r["status"] == "amended"]
    assert len(amended) == 1
    assert {i["answer"][0]["valueCoding"]["code"] for i in amended[0]["item"]} == {"4"}
    statements = [
        r for r in _resources(bundle, "MedicationStatement") if r["id"].startswith(amended[0]["id"])
    ]
    assert statements
    assert all(s["status"] == "not-taken" for s in statements)


def test_statuses_follow_the_plan_and_superseded_revisions_are_stopped(app, record):
    sam = _resources(_exported(app, record["sam"]), "MedicationRequest")
    assert [r["status"] for r in sam] == ["stopped", "stopped", "on-hold"]
    assert sam[-1]["priorPrescription"]["reference"] == _url(app, sam[1])
    assert {n["text"] for n in sam[-1]["note"]} >= {"Reason: Hospital stay"}
    pat = _resources(_exported(app, record["pat"]), "MedicationRequest")
    assert [r["medicationCodeableConcept"]["text"] for r in pat if r["status"] == "draft"] == [
        "oxazepam"
    ]
    with app.app_context():
        plan = db.session.scalar(select(TaperPlan).where(TaperPlan.patient_id == record["pat"]))
        plan.status = PlanStatus.COMPLETED
        db.session.commit()
    completed = _resources(_exported(app, record["pat"]), "MedicationRequest")
    assert "completed" in [r["status"] for r in completed]


def _url(app, resource: dict) -> str:
    with app.app_context():
        return fhir_export._names().full_url(resource["resourceType"], resource["id"])


def test_a_split_step_has_one_dosage_per_part_of_the_day_with_its_timing(app, record):
    draft = next(
        r
        for r in _resources(_exported(app, record["pat"]), "MedicationRequest")
        if r["status"] == "draft"
    )
    first = [d for d in draft["dosageInstruction"] if d["sequence"] == 1]
    assert [
        (d["timing"]["repeat"]["when"], d["doseAndRate"][0]["doseQuantity"]["value"]) for d in first
    ] == [(["MORN"], 10), (["HS"], 20)]
    assert first[0]["patientInstruction"] == '=HYPERLINK("x")'
    second = [d for d in draft["dosageInstruction"] if d["sequence"] == 2]
    assert [d["doseAndRate"][0]["doseQuantity"]["value"] for d in second] == [7.5, 15]
    assert all("end" not in d["timing"]["repeat"]["boundsPeriod"] for d in second)


def test_an_open_hold_leaves_the_later_steps_without_dates(app, record):
    requests = _resources(_exported(app, record["jo"]), "MedicationRequest")
    held = requests[1]  # the lorazepam plan's hold revision
    assert held["id"].endswith("revision-2")
    bounds = [d["timing"].get("repeat", {}).get("boundsPeriod") for d in held["dosageInstruction"]]
    dated = [b for b in bounds if b]
    assert dated
    assert "end" not in dated[-1]
    assert bounds[len(dated) :] == [None] * (len(bounds) - len(dated))
    assert "not dated yet" in held["dosageInstruction"][-1]["text"]


def test_the_patients_own_copy_leaves_out_the_clinicians_drafts(app, record):
    own = _exported(app, record["pat"], include_drafts=False)
    assert "draft" not in [r["status"] for r in _resources(own, "MedicationRequest")]
    assert "oxazepam" not in json.dumps(own)


def test_alerts_say_who_acknowledged_and_resolved_them_and_open_urgent_ones_are_flags(app, record):
    sam = _exported(app, record["sam"])
    issue = _resources(sam, "DetectedIssue")[0]
    assert issue["status"] == "final"
    assert issue["severity"] == "high"
    assert [m["action"]["text"] for m in issue["mitigation"]] == ["Acknowledged", "Resolved"]
    doctor = _resources(sam, "Practitioner")[0]
    assert {m["author"]["reference"] for m in issue["mitigation"]} == {_url(app, doctor)}
    assert "Seen at the clinic, fine" in issue["detail"]
    assert _resources(sam, "Flag") == []  # resolved: no flag
    with app.app_context():
        sam_user = db.session.get(User, record["sam"])
        alerts.raise_alert(sam_user, red_flag_rule(LogFacts(_today(sam_user), 0, ("seizure",))))
        db.session.commit()
        open_id = db.session.scalar(
            select(Alert.id).where(
                Alert.patient_id == sam_user.id, Alert.status == AlertStatus.OPEN
            )
        )
    again = _exported(app, record["sam"])
    flags = _resources(again, "Flag")
    assert [f["id"] for f in flags] == [f"alert-{open_id}-flag"]
    assert flags[0]["status"] == "active"
    assert flags[0]["extension"][0]["valueReference"]["reference"] == _url(
        app, {"resourceType": "DetectedIssue", "id": f"alert-{open_id}"}
    )


def test_nothing_of_another_patient_is_in_a_bundle(app, record):
    pat = json.dumps(_exported(app, record["pat"]))
    for other in ("sam", "jo"):
        assert f"patient-{record[other]}" not in pat
        assert f"log-{record[other]}-" not in pat
    with app.app_context():
        for email in ("sam@example.org", "jo@example.org"):
            assert find_user_by_email(email).name not in pat


def test_the_bundle_streams_one_entry_at_a_time(app, record):
    with app.app_context():
        patient = db.session.get(User, record["pat"])
        chunks = list(fhir_export.bundle_chunks(patient, include_drafts=True))
    assert len(chunks) == len(json.loads(b"".join(chunks))["entry"]) + 2
    assert max(len(c) for c in chunks) < sum(len(c) for c in chunks) / 10


def test_query_count_does_not_grow_with_the_days_logged(app, record, count_queries):
    def queries() -> int:
        with app.app_context():
            patient = db.session.get(User, record["pat"])
            with count_queries() as statements:
                b"".join(fhir_export.bundle_chunks(patient, include_drafts=True))
            return len(statements)

    before = queries()
    with app.app_context():
        pat = db.session.get(User, record["pat"])
        last = db.session.scalar(
            select(func.max(DailyLog.day)).where(DailyLog.patient_id == pat.id)
        )
        for offset in range(1, 40):
            db.session.add(
                DailyLog(
                    patient_id=pat.id,
                    day=last + timedelta(days=offset),
                    submission_id=uuid.uuid4().hex,
                    answers={item.key: 1 for item in CIWA_B.patient_items},
                    patient_total=17,
                    red_flags=[],
                )
            )
        db.session.commit()
    assert queries() == before


def test_the_care_team_zip_holds_one_bundle_per_patient_on_the_team(app, record, make_user):
    stranger = make_user(Role.PATIENT)
    with app.app_context():
        clinician = db.session.get(User, record["clinician"])
        data = b"".join(fhir_export.care_team_zip_chunks(clinician))
        team = {p.id for p in accounts.care_team_patients(clinician)}
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(f"patient-{i}.json" for i in team)
    assert f"patient-{stranger.id}.json" not in archive.namelist()
    for name in archive.namelist():
        bundle = json.loads(archive.read(name))
        assert _resources(bundle, "Patient")[0]["id"] == name.removesuffix(".json")


def test_the_care_team_zip_beats_the_workers_heartbeat_once_per_patient(app, record):
    """gunicorn replaces a sync worker whose request runs past its timeout without a word: a
    long care-team export says it is still working before each patient."""
    from taper import observability

    beats: list[int] = []
    observability.set_heartbeat(lambda: beats.append(1))
    try:
        with app.app_context():
            clinician = db.session.get(User, record["clinician"])
            for _ in fhir_export.care_team_zip_chunks(clinician):
                pass
    finally:
        observability.set_heartbeat(None)
    assert len(beats) == 3


def test_gunicorns_post_fork_hands_the_worker_heartbeat_to_the_app(app, monkeypatch, tmp_path):
    import runpy
    from pathlib import Path
    from types import SimpleNamespace

    from taper import observability

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # or the config makes one
    conf = runpy.run_path(str(Path(__file__).parents[2] / "deploy" / "gunicorn.conf.py"))
    beats: list[int] = []
    worker = SimpleNamespace(notify=lambda: beats.append(1))
    try:
        conf["post_fork"](SimpleNamespace(app=SimpleNamespace(callable=app)), worker)
        observability.still_working()
    finally:
        observability.set_heartbeat(None)
        conf["on_exit"](None)
    assert beats == [1]


def test_an_alert_raised_by_a_log_points_at_that_days_response(app, record):
    jo = _exported(app, record["jo"])
    issue = _resources(jo, "DetectedIssue")[0]
    with app.app_context():
        last = db.session.scalar(
            select(func.max(DailyLog.day)).where(DailyLog.patient_id == record["jo"])
        )
    response = f"log-{record['jo']}-{last:%Y%m%d}"
    assert issue["evidence"][0]["detail"][0]["reference"] == _url(
        app, {"resourceType": "QuestionnaireResponse", "id": response}
    )
    assert 'The patient wrote: "a fit"' in issue["detail"]
    assert issue["status"] == "preliminary"


def test_a_last_step_of_0_mg_is_the_stop_date(app, record):
    lorazepam = _resources(_exported(app, record["jo"]), "MedicationRequest")[0]
    last = lorazepam["dosageInstruction"][-1]
    assert last["doseAndRate"][0]["doseQuantity"]["value"] == 0
    assert last["text"].startswith("Stop: 0 mg")
    assert "until the clinician reviews" not in last["text"]
    assert "maxDosePerPeriod" not in last


def test_a_step_typed_inside_an_ended_hold_starts_when_the_hold_ended(app, record):
    pat = _resources(_exported(app, record["pat"]), "MedicationRequest")
    current = next(r for r in pat if r["status"] == "active")
    with app.app_context():
        patient = db.session.get(User, record["pat"])
        hold_end = _today(patient) - timedelta(days=33)
    nine = next(
        d for d in current["dosageInstruction"] if d["doseAndRate"][0]["doseQuantity"]["value"] == 9
    )
    assert (
        nine["timing"]["repeat"]["boundsPeriod"]["start"]
        == (hold_end + timedelta(days=1)).isoformat()
    )


def test_a_replaced_revision_of_a_draft_is_cancelled_not_stopped(app, record):
    with app.app_context():
        draft = db.session.scalar(
            select(TaperPlan).where(
                TaperPlan.patient_id == record["pat"], TaperPlan.status == PlanStatus.DRAFT
            )
        )
        clinician = db.session.get(User, record["clinician"])
        rows = [
            {"start": s.start.isoformat(), "total": str(s.total)}
            for s in plans.step_inputs(draft.current_revision)
        ]
        plans.revise_plan(clinician, draft, draft.version, rows, "")
        db.session.commit()
    drafts = [
        r["status"]
        for r in _resources(_exported(app, record["pat"]), "MedicationRequest")
        if r["medicationCodeableConcept"]["text"] == "oxazepam"
    ]
    assert drafts == ["cancelled", "draft"]


def test_steps_after_an_open_hold_say_why_they_have_no_dates(app, record):
    held = _resources(_exported(app, record["jo"]), "MedicationRequest")[1]
    undated = [d for d in held["dosageInstruction"] if "repeat" not in d["timing"]]
    assert undated
    assert all("not dated yet" in d["timing"]["code"]["text"] for d in undated)


def test_a_long_bundle_beats_the_heartbeat_every_thousand_entries(app, record, monkeypatch):
    from taper import observability

    beats: list[int] = []
    monkeypatch.setattr(fhir_export, "HEARTBEAT_EVERY", 50)
    observability.set_heartbeat(lambda: beats.append(1))
    try:
        with app.app_context():
            patient = db.session.get(User, record["pat"])
            entries = len(fhir_export.bundle(patient, include_drafts=True)["entry"])
    finally:
        observability.set_heartbeat(None)
    assert len(beats) == entries // 50


def test_a_completed_plan_exports_no_dose_from_the_day_it_ended(
    app, client, clinician, patient, write_plan
):
    """Completed today with steps typed for later: they are exported as never in force, and
    the step in force runs to yesterday, in the FHIR order and in the plans CSV alike."""
    from taper.services import export
    from tests.conftest import login_as

    login_as(client, clinician)
    today = _today(patient)
    plan_id = write_plan(
        patient,
        [
            (today - timedelta(days=20), "10", {}, ""),
            (today + timedelta(days=10), "5", {}, ""),
            (today + timedelta(days=20), "0", {}, ""),
        ],
    )
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        plans.change_status(
            db.session.get(User, clinician.id), plan, plan.version, PlanStatus.COMPLETED, today
        )
        db.session.commit()
        owner = db.session.get(User, patient.id)
        bundle = fhir_export.bundle(owner, include_drafts=False)
        csv_text = export.plans_csv(owner, include_drafts=False)
    (request,) = _resources(bundle, "MedicationRequest")
    assert request["status"] == "completed"
    first, later, stop = request["dosageInstruction"]
    yesterday = (today - timedelta(days=1)).isoformat()
    assert first["timing"]["repeat"]["boundsPeriod"]["end"] == yesterday
    assert first["text"].endswith(f"to {yesterday}")
    for dosage in (later, stop):
        assert "repeat" not in dosage["timing"]
        assert (
            dosage["timing"]["code"]["text"] == "never in force: the plan was completed before it"
        )
    rows = list(csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff"))))
    assert [(r["step_start"], r["step_end"]) for r in rows] == [
        ((today - timedelta(days=20)).isoformat(), yesterday),
        ("", ""),
        ("", ""),
    ]


def test_revisions_replaced_while_the_plan_was_a_draft_never_ran(app, clinician, patient):
    """Drafted as oxazepam 40 mg, revised to diazepam 20 mg, then activated: revision 1 never
    ran. The patient's own copy leaves it out (FHIR and CSV); the care team's calls it
    cancelled, never stopped."""
    from taper.services import export

    today = _today(patient)
    with app.app_context():
        author, owner = db.session.get(User, clinician.id), db.session.get(User, patient.id)
        plan = plans.create_plan(
            author, owner, "oxazepam", [{"start": today.isoformat(), "total": "40"}], reason="idea"
        )
        db.session.commit()
        plans.revise_plan(
            author,
            plan,
            plan.version,
            [{"start": today.isoformat(), "total": "20"}],
            "",
            medication="diazepam",
        )
        db.session.commit()
        plans.change_status(author, plan, plan.version, PlanStatus.ACTIVE, today=today)
        db.session.commit()
        assert plan.activated_revision == 2
        own = fhir_export.bundle(owner, include_drafts=False)
        teams = fhir_export.bundle(owner, include_drafts=True)
        own_csv = export.plans_csv(owner, include_drafts=False)
        teams_csv = export.plans_csv(owner, include_drafts=True)
        plan_id = plan.id
    assert [r["id"] for r in _resources(own, "MedicationRequest")] == [f"plan-{plan_id}-revision-2"]
    assert set(_references(own["entry"])) <= {e["fullUrl"] for e in own["entry"]}
    assert "priorPrescription" not in _resources(own, "MedicationRequest")[0]
    first, second = _resources(teams, "MedicationRequest")
    assert (first["status"], second["status"]) == ("cancelled", "active")
    assert first["statusReason"]["text"].endswith("while it was a draft: never in force")

    def revisions(text):
        return [r["revision"] for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))]

    assert (revisions(own_csv), revisions(teams_csv)) == (["2"], ["1", "2"])


def test_a_revision_replaced_after_activation_is_stopped(app, clinician, patient):
    today = _today(patient)
    with app.app_context():
        author, owner = db.session.get(User, clinician.id), db.session.get(User, patient.id)
        plan = plans.create_plan(
            author, owner, "diazepam", [{"start": today.isoformat(), "total": "20"}]
        )
        db.session.commit()
        plans.change_status(author, plan, plan.version, PlanStatus.ACTIVE, today=today)
        plans.revise_plan(
            author, plan, plan.version, [{"start": today.isoformat(), "total": "20"}], "slower"
        )
        db.session.commit()
        own = fhir_export.bundle(owner, include_drafts=False)
    first, second = _resources(own, "MedicationRequest")
    assert (first["status"], second["status"]) == ("stopped", "active")
    assert first["statusReason"]["text"] == "Replaced by a later revision of the plan"


def test_a_plan_completed_on_the_day_its_stop_begins_keeps_the_stop(
    app, client, clinician, patient, write_plan
):
    from tests.conftest import login_as

    login_as(client, clinician)
    today = _today(patient)
    plan_id = write_plan(
        patient, [(today - timedelta(days=20), "10", {}, ""), (today, "0", {}, "")]
    )
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        plans.change_status(
            db.session.get(User, clinician.id), plan, plan.version, PlanStatus.COMPLETED, today
        )
        db.session.commit()
        bundle = fhir_export.bundle(db.session.get(User, patient.id), include_drafts=False)
    (request,) = _resources(bundle, "MedicationRequest")
    _, stop = request["dosageInstruction"]
    assert stop["text"] == f"Stop: 0 mg, from {today.isoformat()}: the taper's end, no more doses"
