"""The alert scan works in batches of patients (keyset order): each batch reads its plans,
last log days, thresholds and alerts in a fixed number of queries and commits; a batch that
fails is rolled back and logged, and the others still get their alerts (issue 16, item 1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from taper.extensions import db
from taper.jobs.runner import run_job
from taper.jobs.tasks import JobFailed
from taper.models import Alert, Role
from taper.services import alerts
from tests.logs.test_timeline_alerts import D, make_plan, scan, weekly


def missed_by_patient(app) -> list[int]:
    with app.app_context():
        return sorted(
            db.session.scalars(select(Alert.patient_id).where(Alert.kind == "missed_logs"))
        )


def patients(make_user, app, clinician, count: int, plans_each: int = 1) -> list[int]:
    ids = []
    for _ in range(count):
        who = make_user(Role.PATIENT, clinicians=(clinician,))
        for n in range(plans_each):
            medication = ("diazepam", "clonazepam", "lorazepam")[n]
            first = D - timedelta(days=9)
            make_plan(app, clinician, who, weekly(first, "4", "3", "2"), medication=medication)
        ids.append(who.id)
    return ids


def breaking_for(patient_id: int, broken: dict):
    """A _scan_batch that fails, after writing its alerts, whenever this patient is in the
    batch and ``broken["on"]`` (one patient's data the scan cannot read)."""
    real = alerts._scan_batch
    calls = []

    def scan_batch(running, now):
        calls.append([patient.id for patient, _ in running])
        raised = real(running, now)
        if broken["on"] and patient_id in calls[-1]:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return raised

    return scan_batch, calls


def test_a_failing_batch_is_scanned_again_one_patient_at_a_time(
    app, clinician, make_user, monkeypatch, caplog
):
    """One patient's bad data costs only their own alerts, never their whole batch's."""
    monkeypatch.setattr(alerts, "SCAN_BATCH", 2)
    ids = patients(make_user, app, clinician, 5)
    broken = {"on": True}
    scan_batch, calls = breaking_for(ids[2], broken)
    monkeypatch.setattr(alerts, "_scan_batch", scan_batch)
    result = scan(app, D)
    assert calls == [ids[0:2], ids[2:4], [ids[2]], [ids[3]], ids[4:5]]
    assert result.failed_batches == 1
    assert result.missed_logs == 4
    assert missed_by_patient(app) == [ids[0], ids[1], ids[3], ids[4]]  # not ids[2]'s
    assert f"alert scan batch of patients {ids[2]} to {ids[3]} failed (OperationalError)" in (
        caplog.text
    )
    assert f"alert scan batch of patients {ids[2]} to {ids[2]} failed" in caplog.text
    broken["on"] = False
    assert scan(app, D) == alerts.ScanResult(missed_logs=1, plan_end=1)  # only that one
    assert missed_by_patient(app) == sorted(ids)


def test_a_batch_that_failed_once_is_saved_whole_by_its_rerun(
    app, clinician, make_user, monkeypatch
):
    monkeypatch.setattr(alerts, "SCAN_BATCH", 2)
    ids = patients(make_user, app, clinician, 3)
    real = alerts._scan_batch
    broken = {"first": True}

    def first_batch_breaks(running, now):
        if broken.pop("first", False):
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return real(running, now)

    monkeypatch.setattr(alerts, "_scan_batch", first_batch_breaks)
    assert scan(app, D) == alerts.ScanResult(missed_logs=3, plan_end=3)
    assert missed_by_patient(app) == sorted(ids)


def test_the_job_fails_while_a_patient_fails_and_its_rerun_completes(
    app, clinician, make_user, monkeypatch
):
    monkeypatch.setattr(alerts, "SCAN_BATCH", 2)
    ids = patients(make_user, app, clinician, 3)
    broken = {"on": True}
    scan_batch, _ = breaking_for(ids[0], broken)
    monkeypatch.setattr(alerts, "_scan_batch", scan_batch)
    with pytest.raises(JobFailed, match="1 batch"):
        run_job(app, "alert_scan")
    assert missed_by_patient(app) == [ids[1], ids[2]]
    broken["on"] = False
    run_job(app, "alert_scan")
    assert missed_by_patient(app) == sorted(ids)


def batches_seen(monkeypatch) -> list[list[tuple[int, int]]]:
    """Each batch the scan reads, as (patient id, number of plans) pairs, filled as it runs."""
    seen = []
    real = alerts._scan_batch

    def record(running, now):
        seen.append([(patient.id, len(schedules)) for patient, schedules in running])
        return real(running, now)

    monkeypatch.setattr(alerts, "_scan_batch", record)
    return seen


def test_a_patient_is_never_split_across_batches(app, clinician, make_user, monkeypatch):
    """The batch limit counts plans: a patient whose plans straddle it waits for the next
    batch, and one with a whole batch of plans is read with all of them."""
    monkeypatch.setattr(alerts, "SCAN_BATCH", 2)
    single = patients(make_user, app, clinician, 1)
    crossover = patients(make_user, app, clinician, 2, plans_each=2)
    seen = batches_seen(monkeypatch)
    result = scan(app, D)
    assert seen == [[(single[0], 1)], [(crossover[0], 2)], [(crossover[1], 2)]]
    assert result.missed_logs == 3
    assert result.plan_end == 5  # one per plan
    assert scan(app, D) == alerts.ScanResult()


def test_queries_grow_with_batches_not_with_patients(
    app, clinician, make_user, monkeypatch, count_queries
):
    monkeypatch.setattr(alerts, "SCAN_BATCH", 4)

    def queries_for(count: int) -> int:
        patients(make_user, app, clinician, count)
        scan(app, D)
        with count_queries() as statements:
            assert scan(app, D) == alerts.ScanResult()
        return len(statements)

    one_batch = queries_for(3)  # 3 patients: one batch
    assert one_batch <= 7
    three_batches = queries_for(6)  # 9 patients: 4 + 4 + 1
    assert three_batches <= 3 * one_batch
    assert queries_for(2) == three_batches  # 11 patients: still three batches


def test_a_patient_with_more_plans_than_a_batch_is_read_whole(
    app, clinician, make_user, monkeypatch
):
    monkeypatch.setattr(alerts, "SCAN_BATCH", 1)
    crossover = patients(make_user, app, clinician, 2, plans_each=2)
    seen = batches_seen(monkeypatch)
    assert scan(app, D) == alerts.ScanResult(missed_logs=2, plan_end=4)
    assert seen == [[(crossover[0], 2)], [(crossover[1], 2)]]


def test_the_scan_command_says_when_a_batch_failed(app, clinician, make_user, monkeypatch):
    monkeypatch.setattr(alerts, "SCAN_BATCH", 1)
    ids = patients(make_user, app, clinician, 2)
    scan_batch, _ = breaking_for(ids[0], {"on": True})
    monkeypatch.setattr(alerts, "_scan_batch", scan_batch)
    result = app.test_cli_runner().invoke(args=["alerts", "scan"])
    assert result.exit_code == 1
    assert "Missed-log alerts raised: 1" in result.output
    assert "1 batch(es) failed" in result.output
