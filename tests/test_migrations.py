"""Migrations (SECURITY.md F5): one head, and upgrade, drift check, downgrade and upgrade again
on a fresh database: SQLite by default, PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from taper.extensions import db
from tests.tools.databases import fresh_database
from tests.tools.migration_check import round_trip

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
EXPECTED_TABLES = {
    "alembic_version",
    "user",
    "care_team",
    "audit_event",
    "taper_plan",
    "plan_revision",
    "taper_step",
    "plan_receipt",
    "daily_log",
    "log_dose",
    "red_flag_report",
    "visit_assessment",
    "alert",
    "alert_settings",
    "outbox_message",
}


def _loggers() -> list[logging.Logger]:
    return [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]


@contextmanager
def logging_left_as_it_was():
    """migrations/env.py runs logging.fileConfig, which disables every logger that already
    exists and replaces the root handlers; undo that so later tests still see the app's logs."""
    disabled = {logger: logger.disabled for logger in _loggers()}
    level, handlers = logging.root.level, list(logging.root.handlers)
    try:
        yield
    finally:
        for logger in _loggers():  # loggers made inside the block (app imports) start enabled
            logger.disabled = disabled.get(logger, False)
        logging.root.setLevel(level)
        logging.root.handlers[:] = handlers


def scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_migrations_round_trip_on_a_fresh_database_and_leave_every_table():
    with logging_left_as_it_was(), fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        tables = set(round_trip(url))

    assert EXPECTED_TABLES <= tables
    assert tables == {table.name for table in db.metadata.sorted_tables} | {"alembic_version"}


def test_migrations_have_a_single_head():
    heads = scripts().get_heads()

    assert len(heads) == 1, f"several heads, merge them: {heads}"


def test_every_migration_file_is_on_the_one_line_from_base_to_head():
    script = scripts()
    files = sorted((MIGRATIONS / "versions").glob("*.py"))
    chain = list(script.walk_revisions("base", "heads"))

    assert len(chain) == len(files) >= 3
    assert [rev.down_revision for rev in chain if rev.down_revision is None] == [None]
    assert {Path(rev.path).name for rev in chain} == {f.name for f in files}


def test_round_trip_leaves_the_apps_loggers_working():
    disabled_before = {logger.name for logger in _loggers() if logger.disabled}
    with logging_left_as_it_was(), fresh_database(None) as url:
        round_trip(url)

    assert "taper.web" in {logger.name for logger in _loggers()}
    assert {logger.name for logger in _loggers() if logger.disabled} <= disabled_before


def test_0007_moves_each_logs_dose_answer_to_log_dose_and_back():
    """The crossover migration keeps every dose a patient logged, and plan revisions stay
    append-only in the database after it (SQLite copies the table to change it)."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from taper import create_app

    with logging_left_as_it_was(), fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade(revision="0006")
            with db.engine.begin() as conn:
                for statement in (
                    'INSERT INTO "user" (id, email, name, role, active, timezone, '
                    "session_version, created_at, updated_at) VALUES (1, 'p@x.org', 'P', "
                    "'patient', true, 'UTC', 1, '2026-01-01', '2026-01-01')",
                    "INSERT INTO taper_plan (id, patient_id, medication, unit, status, "
                    "created_by_id, created_at, updated_at, version) VALUES (1, 1, 'diazepam', "
                    "'mg', 'active', 1, '2026-01-01', '2026-01-01', 1)",
                    "INSERT INTO plan_revision (id, plan_id, number, author_id, created_at, "
                    "reason) VALUES (1, 1, 1, 1, '2026-01-01', '')",
                    "INSERT INTO daily_log (id, patient_id, day, version, submission_id, scale, "
                    "red_flags, took_as_scheduled, dose_taken, dose_scheduled, plan_id, note, "
                    "created_at) VALUES (1, 1, '2026-01-02', 1, 'a', 'ciwa-b', '[]', false, "
                    "4.5, 5, 1, '', '2026-01-02')",
                    "INSERT INTO daily_log (id, patient_id, day, version, submission_id, scale, "
                    "red_flags, note, created_at) VALUES (2, 1, '2026-01-03', 1, 'b', 'ciwa-b', "
                    "'[]', '', '2026-01-03')",
                    # Rows that point at the tables the migration copies (SQLite batch mode).
                    "INSERT INTO taper_step (id, revision_id, start_date, total, note) VALUES "
                    "(1, 1, '2026-01-01', 5, '')",
                    "UPDATE taper_plan SET current_revision_id = 1",
                    "INSERT INTO alert (id, patient_id, kind, tier, reason, log_id, status, "
                    "created_at, note) VALUES (1, 1, 'dose_deviation', 'review', 'r', 1, "
                    "'acknowledged', '2026-01-02', '')",
                ):
                    conn.execute(text(statement))
            upgrade()
            with db.engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT log_id, plan_id, medication, unit, dose_scheduled, "
                        "took_as_scheduled, dose_taken FROM log_dose"
                    )
                ).all()
            assert [tuple(r) for r in rows] == [
                (1, 1, "diazepam", "mg", Decimal("5.000"), False, Decimal("4.500"))
            ]
            with db.engine.connect() as conn:
                assert conn.execute(text("SELECT log_id, plan_id, cause FROM alert")).all() == [
                    (1, None, "")
                ]
            with pytest.raises(DBAPIError), db.engine.begin() as conn:
                conn.execute(text("UPDATE plan_revision SET reason = 'rewritten'"))
            downgrade(revision="0006")
            with db.engine.connect() as conn:
                back = conn.execute(
                    text(
                        "SELECT id, dose_taken, dose_scheduled, plan_id FROM daily_log ORDER BY id"
                    )
                ).all()
            assert [tuple(r) for r in back] == [
                (1, Decimal("4.500"), Decimal("5.000"), 1),
                (2, None, None, None),
            ]
            db.engine.dispose()


def test_0007_puts_old_holds_and_pauses_on_the_new_timeline():
    """A dated hold saved under the old rules (later steps never moved) gets a revision that
    moves them, so its end no longer skips a step; a paused plan gets its pause on record."""
    from datetime import UTC, date, datetime, timedelta

    from flask_migrate import upgrade
    from sqlalchemy import text

    from taper import create_app
    from taper.domain.schedule import StepInput
    from taper.domain.timeline import Hold, dose_on

    today = datetime.now(UTC).date()
    day = {n: (today + timedelta(days=n)).isoformat() for n in range(-30, 30)}
    with logging_left_as_it_was(), fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade(revision="0006")
            with db.engine.begin() as conn:
                conn.execute(
                    text(
                        'INSERT INTO "user" (id, email, name, role, active, timezone, '
                        "session_version, created_at, updated_at) VALUES (1, 'p@x.org', 'P', "
                        "'patient', true, 'UTC', 1, '2026-01-01', '2026-01-01')"
                    )
                )
                for plan_id, status, hold_start, hold_until in (
                    (1, "active", day[-3], day[10]),  # held 3 mg past the 2 mg step's date
                    (2, "paused", None, None),
                    (3, "active", day[-3], day[0]),  # ends before the next step: unchanged
                ):
                    conn.execute(
                        text(
                            "INSERT INTO taper_plan (id, patient_id, medication, unit, status, "
                            "created_by_id, created_at, updated_at, version) VALUES (:id, 1, "
                            "'diazepam', 'mg', :status, 1, '2026-01-01', '2026-01-01', 1)"
                        ),
                        {"id": plan_id, "status": status},
                    )
                    conn.execute(
                        text(
                            "INSERT INTO plan_revision (id, plan_id, number, author_id, "
                            "created_at, reason, hold_start, hold_until) VALUES (:id, :id, 1, 1, "
                            "'2026-01-01', '', :start, :until)"
                        ),
                        {"id": plan_id, "start": hold_start, "until": hold_until},
                    )
                    for start, total in ((-10, 4), (-3, 3), (2, 2), (9, 1)):
                        conn.execute(
                            text(
                                "INSERT INTO taper_step (revision_id, start_date, total, note) "
                                "VALUES (:rev, :start, :total, '')"
                            ),
                            {"rev": plan_id, "start": day[start], "total": total},
                        )
                    conn.execute(
                        text("UPDATE taper_plan SET current_revision_id = :id WHERE id = :id"),
                        {"id": plan_id},
                    )
                conn.execute(
                    text(
                        "INSERT INTO audit_event (at, action, object_type, object_id) VALUES "
                        "(:at, 'plan.status', 'taper_plan', 2)"
                    ),
                    {"at": f"{day[-5]} 12:00:00"},
                )
                if conn.dialect.name == "postgresql":  # ids were given: move the sequence on
                    conn.execute(
                        text(
                            "SELECT setval(pg_get_serial_sequence('plan_revision', 'id'), "
                            "(SELECT max(id) FROM plan_revision))"
                        )
                    )
            upgrade()
            with db.engine.connect() as conn:
                current = {
                    plan_id: (number, start, until, kind, shift)
                    for plan_id, number, start, until, kind, shift in conn.execute(
                        text(
                            "SELECT p.id, r.number, r.hold_start, r.hold_until, r.hold_kind, "
                            "r.hold_shift FROM taper_plan p JOIN plan_revision r ON "
                            "r.id = p.current_revision_id"
                        )
                    )
                }
                moved = conn.execute(
                    text(
                        "SELECT s.start_date, s.total FROM taper_step s JOIN taper_plan p ON "
                        "s.revision_id = p.current_revision_id WHERE p.id = 1 "
                        "ORDER BY s.start_date"
                    )
                ).all()
            db.engine.dispose()

    as_date = lambda value: value if isinstance(value, date) else date.fromisoformat(value)  # noqa: E731
    assert current[1][0] == 2
    assert (current[1][3], current[1][4]) == ("hold", 9)
    steps = [StepInput(as_date(start), Decimal(total)) for start, total in moved]
    assert [s.start for s in steps] == [as_date(day[n]) for n in (-10, -3, 11, 18)]
    hold = Hold(as_date(day[-3]), as_date(day[10]))
    assert dose_on(steps, as_date(day[11]), hold).step.total == Decimal("2")  # never 1 mg
    assert current[2][0] == 2
    assert (as_date(current[2][1]), current[2][2], current[2][3]) == (
        as_date(day[-5]),
        None,
        "pause",
    )
    assert current[3][0] == 1  # nothing passed over: left as it was


def test_0011_adds_the_phone_number_and_keeps_every_account_both_ways():
    """The phone column comes and goes without touching the accounts, their care teams or
    what points at them (SQLite copies the user table to drop a column)."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect, text

    from taper import create_app

    with logging_left_as_it_was(), fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade(revision="0010")
            with db.engine.begin() as conn:
                for statement in (
                    'INSERT INTO "user" (id, email, name, role, active, timezone, '
                    "session_version, created_at, updated_at) VALUES "
                    "(1, 'p@x.org', 'P', 'patient', true, 'UTC', 1, '2026-01-01', '2026-01-01'),"
                    "(2, 'c@x.org', 'C', 'clinician', true, 'UTC', 1, '2026-01-01', '2026-01-01')",
                    "INSERT INTO care_team (clinician_id, patient_id, created_at) VALUES "
                    "(2, 1, '2026-01-01')",
                    "INSERT INTO alert (id, patient_id, kind, tier, reason, status, created_at, "
                    "note) VALUES (1, 1, 'red_flag', 'urgent', 'r', 'open', '2026-01-02', '')",
                ):
                    conn.execute(text(statement))
            upgrade()
            columns = {c["name"]: c for c in inspect(db.engine).get_columns("user")}
            assert columns["phone"]["nullable"]
            with db.engine.begin() as conn:
                assert conn.execute(text('SELECT id, phone FROM "user" ORDER BY id')).all() == [
                    (1, None),
                    (2, None),
                ]
                conn.execute(text("UPDATE \"user\" SET phone = '07700 900123' WHERE id = 1"))
            downgrade(revision="0010")
            assert "phone" not in {c["name"] for c in inspect(db.engine).get_columns("user")}
            with db.engine.connect() as conn:
                assert conn.execute(text('SELECT id, email FROM "user" ORDER BY id')).all() == [
                    (1, "p@x.org"),
                    (2, "c@x.org"),
                ]
                assert conn.execute(
                    text("SELECT clinician_id, patient_id FROM care_team")
                ).all() == [(2, 1)]
                assert conn.execute(text("SELECT id, patient_id FROM alert")).all() == [(1, 1)]
            db.engine.dispose()


def test_0013_adds_the_day_a_plan_was_completed_both_ways():
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    from taper import create_app

    with logging_left_as_it_was(), fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            columns = {c["name"]: c for c in inspect(db.engine).get_columns("taper_plan")}
            assert columns["completed_on"]["nullable"]
            downgrade(revision="0012")
            columns = {c["name"] for c in inspect(db.engine).get_columns("taper_plan")}
            assert "completed_on" not in columns
            assert {"status", "version", "current_revision_id"} <= columns
            db.engine.dispose()


def test_0014_finds_the_revision_each_plan_was_activated_with_in_the_audit_trail():
    """A plan activated after its second revision (a third saved later), a draft, and a plan
    the trail says nothing of (none); the column goes again on the way down."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect, text

    from taper import create_app

    plan = (
        "INSERT INTO taper_plan (id, patient_id, medication, unit, status, created_by_id, "
        "created_at, updated_at, version) VALUES ({id}, 1, 'diazepam', 'mg', '{status}', 2, "
        "'2026-01-01', '2026-01-01', 1)"
    )
    revision = (
        "INSERT INTO plan_revision (id, plan_id, number, author_id, created_at, reason, "
        "hold_shift) VALUES ({id}, {plan}, {number}, 2, '{at}', '', 0)"
    )
    status = (
        "INSERT INTO audit_event (at, actor_id, action, object_type, object_id, patient_id, "
        "summary) VALUES ('{at}', 2, 'plan.status', 'taper_plan', {plan}, 1, '{summary}')"
    )
    with logging_left_as_it_was(), fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade(revision="0013")
            with db.engine.begin() as conn:
                for statement in (
                    'INSERT INTO "user" (id, email, name, role, active, timezone, '
                    "session_version, created_at, updated_at) VALUES "
                    "(1, 'p@x.org', 'P', 'patient', true, 'UTC', 1, '2026-01-01', '2026-01-01'),"
                    "(2, 'c@x.org', 'C', 'clinician', true, 'UTC', 1, '2026-01-01', '2026-01-01')",
                    plan.format(id=1, status="completed"),
                    plan.format(id=2, status="draft"),
                    plan.format(id=3, status="active"),
                    revision.format(id=1, plan=1, number=1, at="2026-01-01 10:00:00+00"),
                    revision.format(id=2, plan=1, number=2, at="2026-01-01 11:00:00+00"),
                    revision.format(id=3, plan=1, number=3, at="2026-01-03 10:00:00+00"),
                    revision.format(id=4, plan=2, number=1, at="2026-01-01 10:00:00+00"),
                    revision.format(id=5, plan=3, number=1, at="2026-01-01 10:00:00+00"),
                    status.format(
                        at="2026-01-02 09:00:00+00",
                        plan=1,
                        summary='{"from": "draft", "to": "active"}',
                    ),
                    status.format(
                        at="2026-01-09 09:00:00+00",
                        plan=1,
                        summary='{"from": "active", "to": "completed"}',
                    ),
                ):
                    conn.execute(text(statement))
            upgrade()
            with db.engine.connect() as conn:
                found = conn.execute(
                    text("SELECT id, activated_revision FROM taper_plan ORDER BY id")
                ).all()
            assert found == [(1, 2), (2, None), (3, None)]
            downgrade(revision="0013")
            columns = {c["name"] for c in inspect(db.engine).get_columns("taper_plan")}
            assert "activated_revision" not in columns
            db.engine.dispose()
