"""Tests of the load benchmark's harness (bench/run.py) without gunicorn or wrk: the verdict
beside each of issue 18's targets, the table, the rotation of the dated results files, the
second patient the daily-log submit is sent as, and the SQL statements counted per row."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from taper.extensions import db
from taper.models import DailyLog, User
from taper.seed.scale import seed_scale
from tests.tools.databases import is_postgres
from tests.tools.scripts import bench_script


@pytest.fixture(scope="module")
def bench():
    with bench_script("run.py") as module:
        yield module


def stats(rps: float, errors: int = 0) -> dict:
    return {"rps": rps, "p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0, "errors": errors}


def test_targets_are_issue_18s(bench):
    assert {k: (t.ratio, t.max_queries) for k, t in bench.TARGETS.items()} == {
        "today": (0.30, None),
        "log_form": (0.30, None),
        "log_submit": (0.20, None),
        "overview_large": (0.10, 5),
        "alerts": (0.10, None),
        "chart_cached": (0.30, None),
    }
    assert set(bench.TARGETS) < set(bench.ROWS)  # every target has a row


def test_a_query_target_must_hold_as_well_as_the_ratio(bench):
    assert bench.verdict("overview_large", 0.12, 5) == "met"
    assert bench.verdict("overview_large", 0.10, 3) == "met"
    assert bench.verdict("overview_large", 0.12, 6) == "not met"  # fast, too many queries
    assert bench.verdict("overview_large", 0.09, 3) == "not met"  # few queries, too slow
    assert bench.verdict("overview_large", 0.50, None) == "not met"  # not counted: unproven


def test_a_ratio_below_the_target_or_failed_requests_are_not_met(bench):
    assert bench.verdict("today", 0.30, 9) == "met"
    assert bench.verdict("today", 0.299, 9) == "not met"
    assert bench.verdict("log_submit", 0.20, None) == "met"  # no query target on this row
    assert bench.verdict("log_submit", 0.19, 1) == "not met"
    assert bench.verdict("today", 0.90, 9, errors=3) == "not met"


@pytest.mark.parametrize("key", ["baseline", "overview_small", "chart_cold", "login"])
def test_rows_without_a_target_show_a_dash(bench, key):
    assert bench.verdict(key, 0.01, 99, errors=5) == "–"
    assert bench.verdict(key, 5.0, 1) == "–"


def test_table_shows_each_target_its_verdict_and_the_count_met(bench):
    rows = [
        ("baseline", "baseline: bare endpoint (/ping)", stats(1000)),
        ("today", "patient Today", stats(350)),
        ("log_form", "daily-log form (GET)", stats(290)),
        ("overview_large", "overview (1,000 patients)", stats(150)),
        ("overview_small", "overview (100 patients)", stats(200)),
        ("alerts", "alert inbox", stats(120, errors=2)),
        ("log_submit", "daily-log submit (a second patient)", stats(200)),
        ("login", "login (Argon2id)", stats(10)),
    ]
    queries = {"today": 4, "log_form": 4, "overview_large": 5, "overview_small": 7}
    report = bench.table(["## heading"], rows, queries)
    lines = report.splitlines()
    assert lines[0] == "## heading"
    assert lines[2] == (
        "| page | req/s | × baseline | target | met? | p50 ms | p95 ms | p99 ms | errors "
        "| SQL queries |"
    )
    assert (
        "| baseline: bare endpoint (/ping) | 1000 | 1.00 | – | – | 10.0 | 20.0 | 30.0 | 0 | – |"
        in lines
    )
    assert "| patient Today | 350 | 0.35 | ≥ 0.30 | met | 10.0 | 20.0 | 30.0 | 0 | 4 |" in lines
    assert "| daily-log form (GET) | 290 | 0.29 | ≥ 0.30 | not met |" in report
    assert (
        "| overview (1,000 patients) | 150 | 0.15 | ≥ 0.10 | met | 10.0 | 20.0 | 30.0 | 0 "
        "| 5 (≤ 5) |" in lines
    )
    assert "| overview (100 patients) | 200 | 0.20 | – | – | 10.0 | 20.0 | 30.0 | 0 | 7 |" in lines
    assert "| alert inbox | 120 | 0.12 | ≥ 0.10 | not met | 10.0 | 20.0 | 30.0 | 2 | – |" in lines
    assert "| daily-log submit (a second patient) | 200 | 0.20 | ≥ 0.20 | met |" in report
    assert "| login (Argon2id) | 10 | 0.01 | – | – |" in report
    assert lines[-1] == "Targets met: 3 of 6"
    assert lines[-2] == ""
    assert sum(line.startswith("| ") for line in lines) == 1 + len(rows)


def test_table_counts_the_query_target_in_targets_met(bench):
    rows = [("baseline", "ping", stats(100)), ("overview_large", "overview", stats(50))]
    assert bench.table([], rows, {"overview_large": 5}).endswith("Targets met: 1 of 6\n")
    assert "| 9 (≤ 5) |" in bench.table([], rows, {"overview_large": 9})
    assert bench.table([], rows, {"overview_large": 9}).endswith("Targets met: 0 of 6\n")


def dated(folder: Path, kind: str, days: list[str]) -> None:
    for day in days:
        (folder / f"load-{kind}-{day}.md").write_text(day)


def test_rotation_keeps_the_three_newest_days_of_that_database_only(bench, tmp_path):
    pg_days = ["2026-09-30", "2026-10-02", "2026-10-10", "2026-11-01", "2026-12-04"]
    lite_days = ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]
    dated(tmp_path, "postgresql", pg_days)
    dated(tmp_path, "sqlite", lite_days)
    others = ["load-postgresql.md", "load-sqlite.md", "micro.md", "load-postgresql-2026-13-40.md"]
    for name in others:
        (tmp_path / name).write_text("keep")
    # Newest by date, not by the file's time: make the oldest day the latest written.
    os.utime(tmp_path / "load-postgresql-2026-09-30.md", (2_000_000_000, 2_000_000_000))
    removed = bench.rotate(tmp_path, "postgresql")
    assert sorted(p.name for p in removed) == [
        "load-postgresql-2026-09-30.md",
        "load-postgresql-2026-10-02.md",
    ]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [f"load-postgresql-{d}.md" for d in pg_days[2:]]
        + [f"load-sqlite-{d}.md" for d in lite_days]
        + others
    )
    assert bench.rotate(tmp_path, "postgresql") == []  # already three


def test_results_of_a_run_are_dated_and_latest_and_rotated(bench, tmp_path):
    for day, body in ((1, "a"), (2, "b"), (3, "c"), (4, "d")):
        path = bench.write_results(tmp_path, "sqlite", body, date(2026, 12, day))
        assert path == tmp_path / f"load-sqlite-2026-12-0{day}.md"
    dated(tmp_path, "postgresql", ["2026-11-01"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "load-postgresql-2026-11-01.md",
        "load-sqlite-2026-12-02.md",
        "load-sqlite-2026-12-03.md",
        "load-sqlite-2026-12-04.md",
        "load-sqlite.md",
    ]
    assert (tmp_path / "load-sqlite.md").read_text() == "d"
    # A second run the same day replaces that day's file, and the latest copy.
    bench.write_results(tmp_path, "sqlite", "e", date(2026, 12, 4))
    assert (tmp_path / "load-sqlite-2026-12-04.md").read_text() == "e"
    assert (tmp_path / "load-sqlite.md").read_text() == "e"
    assert (tmp_path / "load-sqlite-2026-12-02.md").read_text() == "b"  # still three days
    assert len(list(tmp_path.glob("load-sqlite-*.md"))) == 3


def test_the_submit_goes_to_another_patient_of_the_same_clinician(app, bench):
    with app.app_context():
        # Two clinicians: the patients alternate between them (patient0 and patient2 share one).
        seeded = seed_scale(2, 4, 3, "a-long-enough-password", seed=1)
        other = seed_scale(1, 2, 3, "a-long-enough-password", seed=2)  # another batch
        db.session.commit()
        clinician, patient = seeded["first_clinician"], seeded["first_patient"]
        second = bench.other_patient(db.session, clinician, patient)
        assert second == patient.replace("patient0-", "patient2-")
        assert db.session.scalar(select(User).where(User.email == second)) is not None
        assert bench.other_patient(
            db.session, other["first_clinician"], other["first_patient"]
        ) == other["first_patient"].replace("patient0-", "patient1-")
        alone = seed_scale(1, 1, 3, "a-long-enough-password", seed=3)
        db.session.commit()
        with pytest.raises(SystemExit, match="no second patient"):
            bench.other_patient(db.session, alone["first_clinician"], alone["first_patient"])


def test_every_row_with_a_target_has_its_queries_counted(bench, monkeypatch):
    """On a fresh database seeded as the run seeds it: every row with a target gets a count,
    and the counted submit (in-process, CSRF off) is the second patient's, not the first's."""
    base = os.environ.get("TEST_DATABASE_URL")
    kind = "postgresql" if is_postgres(base) else "sqlite"
    if kind == "postgresql":
        monkeypatch.setattr(bench, "PG_BASE", base)
    with bench.fresh_db(kind) as url:
        env = dict(os.environ, DATABASE_URL=url, TAPER_PASSWORD=bench.PASSWORD)
        env["TAPER_CONFIG"] = "development"
        seeded = bench.seed(env, 3, 30)
        large, small = seeded["large"], seeded["small"]
        submitter = bench._submitter(url, large)
        assert submitter != large["patient"]
        engine = create_engine(url)

        def versions(email: str) -> int:
            with Session(engine) as session:
                return session.scalar(
                    select(func.count())
                    .select_from(DailyLog)
                    .join(User, User.id == DailyLog.patient_id)
                    .where(User.email == email)
                )

        before = {email: versions(email) for email in (large["patient"], submitter)}
        counts = bench.query_counts(
            url,
            {
                "patient": large["patient"],
                "submitter": submitter,
                "clinician": large["clinician"],
                "small_clinician": small["clinician"],
            },
        )
        after = {email: versions(email) for email in (large["patient"], submitter)}
        engine.dispose()
    assert set(bench.TARGETS) <= set(counts)
    assert set(counts) == set(bench.ROWS) - {"baseline", "login"}
    assert all(n > 0 for n in counts.values()), counts
    assert after[large["patient"]] == before[large["patient"]]
    assert after[submitter] == before[submitter] + 2  # a warming submit, then the counted one


def test_a_seeded_postgresql_database_is_vacuumed_and_analyzed_and_sqlite_left_alone(
    bench, monkeypatch
):
    """As autovacuum would after a bulk load (it is off on some machines' PostgreSQL): the
    planner's statistics exist after ``vacuum``. SQLite gets nothing (no ANALYZE tables)."""
    base = os.environ.get("TEST_DATABASE_URL")
    kind = "postgresql" if is_postgres(base) else "sqlite"
    if kind == "postgresql":
        monkeypatch.setattr(bench, "PG_BASE", base)
    with bench.fresh_db(kind) as url:
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(text("CREATE TABLE seeded (n integer)"))
                connection.execute(text("INSERT INTO seeded VALUES (1), (2), (3)"))
            bench.vacuum(url)
            with engine.connect() as connection:
                if kind == "postgresql":
                    found = "SELECT count(*) FROM pg_stats WHERE tablename = 'seeded'"
                else:
                    found = "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sqlite_stat%'"
                analyzed = connection.execute(text(found)).scalar_one()
        finally:
            engine.dispose()
    assert analyzed == (1 if kind == "postgresql" else 0)
