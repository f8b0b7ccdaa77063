"""Migrations (SECURITY.md F5): one head, and upgrade, drift check, downgrade and upgrade again
on a fresh database: SQLite by default, PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

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
