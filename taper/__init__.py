"""Taper: clinician-supervised benzodiazepine tapering. ``create_app`` builds the app."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

ROOT = Path(__file__).resolve().parent.parent


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection, _record) -> None:
    """SQLite ignores foreign keys unless asked on every connection. WAL lets readers work
    while one request writes (every page view writes an audit row)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


@event.listens_for(Engine, "savepoint")
def _sqlite_savepoint_inside_a_transaction(connection, _name) -> None:
    """pysqlite issues BEGIN only before a data change, so a SAVEPOINT opened first starts a
    transaction of its own and its RELEASE commits everything so far: a log would then be
    stored even when the request fails later. Opening the transaction first keeps the use
    case one transaction (SECURITY.md F1)."""
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if not raw.in_transaction:
            raw.execute("BEGIN")


def create_app(test_config: dict[str, Any] | None = None, config_name: str | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, CLI, error pages, security headers."""
    from config import CONFIGS

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    name = config_name or (
        "testing" if test_config else os.environ.get("TAPER_CONFIG", "development")
    )
    config_class = CONFIGS[name]
    config_class.validate()
    app.config.from_object(config_class)
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if app.config["PROXY_COUNT"]:
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    from taper import models  # noqa: F401  (registers the tables)
    from taper.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    from taper.models.types import render_migration_type

    migrate.init_app(
        app,
        db,
        directory=str(ROOT / "migrations"),
        render_as_batch=True,
        compare_type=True,
        render_item=render_migration_type,
    )
    csrf.init_app(app)
    # Login throttling counts: in Redis when the app servers share one, else in memory.
    app.config["RATELIMIT_STORAGE_URI"] = (
        app.config["RATELIMIT_STORAGE_URI"] or app.config["REDIS_URL"] or "memory://"
    )
    limiter.init_app(app)
    login_manager.init_app(app)

    from taper import jobs, observability, templating, web

    observability.init_app(app)  # request ids, JSON logs, /metrics' request timings
    web.init_app(app)
    templating.init_app(app)
    jobs.init_app(app)  # the job queue, or the in-process timer without Redis

    from taper.admin import bp as admin_bp
    from taper.auth import bp as auth_bp
    from taper.clinician import bp as clinician_bp
    from taper.files import bp as files_bp
    from taper.main import bp as main_bp
    from taper.patient import bp as patient_bp
    from taper.web import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any route is added
    for blueprint in (main_bp, auth_bp, admin_bp, clinician_bp, patient_bp, files_bp):
        app.register_blueprint(blueprint)

    from taper.cli import register_cli

    register_cli(app)
    if app.config["RED_FLAG_PHRASES_FILE"]:
        # A clinic's phrase file that cannot be read stops the app here, never later on a
        # patient's note. Otherwise the screen is built on the first note a process screens
        # (about 2 s, once), so cron commands such as `notify send` never pay for it.
        from taper.domain import note_screen

        note_screen.load(app.config["RED_FLAG_PHRASES_FILE"])
    return app
