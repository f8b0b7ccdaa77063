"""Smoke tests of the export benchmark (bench/export.py): its seeding writes the whole record it
promises, and each export runs on a tiny record. Nothing here is timed."""

from __future__ import annotations

import argparse
import os
from datetime import date

import pytest
from sqlalchemy import func, select

from taper.extensions import db
from taper.models import (
    Alert,
    AlertStatus,
    CareTeamLink,
    DailyLog,
    LogDose,
    PlanStatus,
    TaperPlan,
    User,
    VisitAssessment,
)
from taper.services import export as csv_export
from taper.services import fhir_export
from tests.tools.databases import is_postgres
from tests.tools.scripts import bench_script

TODAY = date(2026, 6, 30)


@pytest.fixture(scope="module")
def bench():
    with bench_script("export.py") as module:
        yield module


def test_seeding_writes_the_whole_record(app, bench):
    with app.app_context():
        seeded = bench.seed_record(90, today=TODAY)
        db.session.commit()
        patient = db.session.get(User, seeded.patient_id)
        assert (
            db.session.scalar(select(func.count()).where(CareTeamLink.patient_id == patient.id))
            == 1
        )
        plans = {
            p.medication: p
            for p in db.session.scalars(select(TaperPlan).where(TaperPlan.patient_id == patient.id))
        }
        assert {m: p.status for m, p in plans.items()} == {
            "diazepam": PlanStatus.ACTIVE,
            "alprazolam": PlanStatus.COMPLETED,
            "oxazepam": PlanStatus.DRAFT,
        }
        main = plans["diazepam"]
        assert [r.number for r in main.revisions] == [1, 2, 3]
        assert main.current_revision_id == main.revisions[-1].id
        assert [r.hold_kind for r in main.revisions] == [None, None, "hold"]
        held = main.revisions[-1]
        assert (held.hold_until - held.hold_start).days == 20
        assert held.hold_shift > 0  # the steps after the held one moved on
        logs = list(db.session.scalars(select(DailyLog).where(DailyLog.patient_id == patient.id)))
        assert len(logs) == seeded.logs
        assert 75 <= len({log.day for log in logs}) <= 90  # a few missed days, not many
        assert sum(log.version == 2 for log in logs) == seeded.corrected_days >= 1
        for log in logs:
            assert sorted(log.answers) == sorted(bench.ITEMS)
            assert len(log.answers) == 17
            assert log.patient_total == sum(log.answers.values())
        assert any(log.note for log in logs)
        assert any(not log.note for log in logs)
        assert any(log.red_flags == ["agitation"] for log in logs)
        two = [log for log in logs if len(log.doses) == 2]
        assert len(two) == seeded.crossover_logs > 0  # the crossover: both plans asked
        assert {d.medication for d in two[0].doses} == {"diazepam", "alprazolam"}
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(LogDose)
                .join(DailyLog)
                .where(DailyLog.patient_id == patient.id)
            )
            == seeded.doses
        )
        visits = list(
            db.session.scalars(
                select(VisitAssessment).where(VisitAssessment.patient_id == patient.id)
            )
        )
        assert len(visits) == seeded.visits == 7  # every two weeks over 90 days
        assert all(len(v.answers) == 20 and v.total == sum(v.answers.values()) for v in visits)
        urgent = list(
            db.session.scalars(
                select(Alert).where(Alert.patient_id == patient.id, Alert.tier == "urgent")
            )
        )
        assert {a.status for a in urgent} == {AlertStatus.OPEN, AlertStatus.RESOLVED}
        assert all(a.log_id is not None for a in urgent)
        assert len(urgent) == sum(log.red_flags != [] and log.version == 1 for log in logs)
        alerts = list(db.session.scalars(select(Alert).where(Alert.patient_id == patient.id)))
        assert len(alerts) == sum(seeded.alerts.values())
        assert {a.kind for a in alerts} == {"red_flag", "high_score", "dose_deviation", "rising"}
        assert all(a.plan_id == main.id for a in alerts if a.kind == "dose_deviation")


def test_seeding_refuses_too_short_a_record(app, bench):
    with app.app_context(), pytest.raises(ValueError, match="at least 28 days"):
        bench.seed_record(27, today=TODAY)


def test_each_export_runs_on_a_tiny_record(app, bench):
    with app.app_context():
        seeded = bench.seed_record(40, today=TODAY)
        db.session.commit()
        timings = bench.measure(seeded, repeat=1)
        patient = db.session.get(User, seeded.patient_id)
        csv_size = len(csv_export.logs_csv(patient).encode())
        bundle_size = sum(len(p) for p in fhir_export.bundle_chunks(patient, include_drafts=True))
        contents = bench.bundle_contents(seeded.patient_id)
    assert [t.name for t in timings] == [name for name, _ in bench.CASES]
    assert [t.error for t in timings] == ["", "", ""]
    baseline, fhir, csv = timings
    assert fhir.size == bundle_size
    assert csv.size == csv_size
    assert baseline.size > 0
    assert all(t.peak > 0 and t.seconds > 0 for t in timings)
    assert contents["Patient"] == 1
    report = bench.table("sqlite", [seeded], timings, {40: contents}, repeat=1)
    assert report.count("\n| ") == 4  # the header and three rows
    assert "| CSV of the logs (logs_csv) | 40 |" in report


def test_a_failing_export_is_reported_and_the_others_still_run(app, bench, monkeypatch):
    def broken(_patient):
        yield b"{"
        raise RuntimeError("half a Bundle")

    cases = (bench.CASES[0], ("broken export", broken), bench.CASES[2])
    monkeypatch.setattr(bench, "CASES", cases)
    with app.app_context():
        seeded = bench.seed_record(30, today=TODAY)
        db.session.commit()
        timings = bench.measure(seeded, repeat=2)
        # The failed export's session was rolled back: the record is still readable.
        assert db.session.scalar(select(func.count()).select_from(DailyLog)) == seeded.logs
    assert [t.error for t in timings] == ["", "RuntimeError: half a Bundle", ""]
    assert timings[2].size > 0
    report = bench.table("sqlite", [seeded], timings, {30: {}}, repeat=2)
    assert "| broken export | 30 |" in report
    assert "failed: RuntimeError: half a Bundle" in report


def test_report_says_whether_the_target_is_met(bench):
    seeded = bench.Seeded(1, 1825, 1700, 40, 1900, 300, 131, {"open": 2}, 3, 1.0)

    def timings(fhir_seconds: float, error: str = ""):
        return [
            bench.Timing(bench.CASES[0][0], 1825, 1700, 0.05, 500_000, 1_000_000, 500_000),
            bench.Timing(bench.CASES[1][0], 1825, 1700, fhir_seconds, 9_000_000, 2_000_000, 9000)
            if not error
            else bench.Timing(bench.CASES[1][0], 1825, 1700, 0.0, 0, 0, 0, error=error),
        ]

    fast = bench.table("postgresql", [seeded], timings(1.5), {1825: {"Patient": 1}})
    assert "| 1.500 | 9.00 | 30.0 | 2.00 | 0.22 | 0.01 |" in fast
    assert "under 2 s: 1.50 s, met." in fast
    assert "1 Patient" in fast
    slow = bench.table("postgresql", [seeded], timings(2.5), {1825: {}})
    assert "2.50 s, NOT met." in slow
    failed = bench.table("postgresql", [seeded], timings(0, "TypeError: a|b"), {1825: {}})
    assert "failed: TypeError: a/b |" in failed  # a pipe in the error cannot break the table
    assert "it failed, NOT met." in failed


@pytest.mark.parametrize(
    ("text", "days"), [("365,1825", (365, 1825)), ("28", (28,)), ("3650", (3650,))]
)
def test_days_option_accepts_lists_of_days(bench, text, days):
    assert bench.parse_days(text) == days


@pytest.mark.parametrize("text", ["", "abc", "365,", "27", "0", "-365", "3651", "1e3", "365;1825"])
def test_days_option_refuses_bad_lists(bench, text):
    with pytest.raises(argparse.ArgumentTypeError):
        bench.parse_days(text)


def test_bad_options_stop_before_anything_runs(bench, capsys, monkeypatch):
    monkeypatch.setattr(bench, "run", lambda *_a: pytest.fail("ran"))
    for argv, message in (
        (["--days", "abc"], "not a list of whole numbers: 'abc'"),
        (["--days", "30,20"], "from 28 to 3650"),
        (["--db", "mysql"], "invalid choice: 'mysql'"),
        (["--repeat", "0"], "at least 1: '0'"),
        (["--repeat", "two"], "at least 1: 'two'"),
    ):
        with pytest.raises(SystemExit) as stopped:
            bench.main(argv)
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err


def test_the_script_runs_on_a_fresh_database(bench, monkeypatch):
    """The whole run, as `make bench` does it, on a tiny record: a fresh SQLite file, or a
    fresh PostgreSQL database beside the test one (made and dropped by the run)."""
    base = os.environ.get("TEST_DATABASE_URL")
    kind = "postgresql" if is_postgres(base) else "sqlite"
    if kind == "postgresql":
        monkeypatch.setattr(bench, "PG_BASE", base)
    report, ok = bench.run(kind, (28,), repeat=1)
    assert ok, report
    assert report.startswith(f"## {kind}: one patient's export, best of 1")
    assert "- 28 days: seeded in" in report
