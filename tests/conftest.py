"""Fixtures: app, client, factories, login helper, query counter.

Databases: in-memory SQLite per test by default; with TEST_DATABASE_URL (PostgreSQL) a fresh
database is made for the run with its own owner and app roles (as ``flask db roles`` makes in
production): the owner creates the schema once, the app under test connects as the restricted
app role, and the owner empties every table after each test.

Parallel runs (``pytest -n 2``, as ``make test`` does): each pytest-xdist worker is its own
process with its own session fixtures, so its own PostgreSQL database and roles (named after
the worker: ``taper_test_gw0_...``), its own SQLite databases and temporary folders, and its own
slice of SMTP ports (tests/tools/smtp.py).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import count

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

import config
from taper import create_app
from taper.extensions import db
from taper.models import CareTeamLink, Role, User
from taper.services.passwords import hash_password
from tests.helpers import patient_today, plan_form, version_of
from tests.tools.databases import (
    RoleDatabase,
    fresh_database,
    fresh_database_with_roles,
    is_postgres,
)

# No app made by a test runs the background jobs on a timer of its own (the production and
# development settings would, on the first request): a thread left running would send e-mails
# and raise alerts in the middle of later tests. Tests of the timer switch it on themselves.
config.Config.JOBS_EMBEDDED = False

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = hash_password(PASSWORD)  # hashed once: Argon2id is slow by design
_ids = count(1)


def _create_schema(url: str) -> None:
    """The tables, with the append-only triggers that follow ``create_all``, made as ``url``."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.create_all()
        db.engine.dispose()


@pytest.fixture(scope="session")
def test_database() -> Iterator[RoleDatabase | None]:
    """On PostgreSQL, the run's database and its roles; None on SQLite."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not is_postgres(base):
        yield None
        return
    with fresh_database_with_roles(base, _create_schema) as database:
        yield database


@pytest.fixture(scope="session")
def database_url(test_database: RoleDatabase | None) -> Iterator[str]:
    """Where the app under test connects: on PostgreSQL, as the restricted app role."""
    if test_database is not None:
        yield test_database.app_url
        return
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield "sqlite://"
        return
    with fresh_database(base) as url:
        yield url


@pytest.fixture(scope="session")
def owner_engine(test_database: RoleDatabase | None) -> Iterator[Engine | None]:
    """The table owner's connection on PostgreSQL (None on SQLite): it empties the tables
    between tests, which the app role may not."""
    if test_database is None:
        yield None
        return
    engine = create_engine(test_database.owner_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app_factory(database_url: str, owner_engine: Engine | None) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test database; each is cleaned up after the test."""
    made: list[Flask] = []

    def make(**overrides) -> Flask:
        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, **overrides})
        if owner_engine is None or app.config["SQLALCHEMY_DATABASE_URI"] != database_url:
            with app.app_context():
                db.create_all()
        made.append(app)
        return app

    yield make
    used_test_database = False
    for app in made:
        timer = app.extensions.get("taper_jobs_timer")
        if timer is not None and hasattr(timer, "stop"):
            timer.stop()
        with app.app_context():
            db.session.remove()
            used_test_database |= app.config["SQLALCHEMY_DATABASE_URI"] == database_url
            db.engine.dispose()
    if owner_engine is not None and used_test_database:
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with owner_engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app(app_factory, request) -> Flask:
    """The app. Tests push an app context only around their own database reads, so each
    request runs in its own context as in production. Settings for one test:
    ``@pytest.mark.app_config(SMTP_PORT=2525)``."""
    marker = request.node.get_closest_marker("app_config")
    return app_factory(**(marker.kwargs if marker else {}))


@pytest.fixture
def shared_app(app_factory, database_url: str, tmp_path):
    """An app whose database several threads can share: the test PostgreSQL database, or a
    SQLite file (an in-memory SQLite database lives on one connection)."""
    if database_url.startswith("sqlite"):
        return app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'parallel.db'}")
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Factory: ``make_user(Role.PATIENT, name=..., clinicians=[...])``; password is PASSWORD."""

    def make(role: Role = Role.PATIENT, *, clinicians: tuple[User, ...] = (), **fields) -> User:
        n = next(_ids)
        fields.setdefault("email", f"{role.value}{n}@example.org")
        fields.setdefault("name", f"{role.value.capitalize()} Number{n}")
        fields.setdefault("password_hash", PASSWORD_HASH)
        fields.setdefault("timezone", "America/New_York")
        with app.app_context():
            user = User(role=role, **fields)
            db.session.add(user)
            db.session.flush()
            for clinician in clinicians:
                db.session.add(CareTeamLink(clinician_id=clinician.id, patient_id=user.id))
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)  # a detached, fully loaded copy for the test to read
        return user

    return make


@pytest.fixture
def clinician(make_user) -> User:
    return make_user(Role.CLINICIAN, name="Dr Ada Quinn")


@pytest.fixture
def patient(make_user, clinician) -> User:
    return make_user(Role.PATIENT, name="Robin Patient", clinicians=(clinician,))


@pytest.fixture
def admin(make_user) -> User:
    return make_user(Role.ADMIN, name="Ari Admin")


def login_as(client: FlaskClient, user: User) -> None:
    """Sign a user in by writing the session a real login would write."""
    with client.session_transaction() as session:
        now = time.time()
        session.clear()
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session["login_at"] = session["seen_at"] = session["auth_at"] = now


def real_login(client: FlaskClient, email: str, password: str = PASSWORD, **kwargs):
    """Log in through the login form."""
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


@pytest.fixture
def count_queries(app: Flask):
    """Context manager counting SQL statements: ``with count_queries() as counter: ...``."""
    from contextlib import contextmanager

    @contextmanager
    def counter():
        statements: list[str] = []

        def before(_conn, _cursor, statement, *_args):
            statements.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", before)

    return counter


@pytest.fixture
def write_plan(client, app):
    """Write a plan through the editor as the signed-in clinician; returns the plan id."""

    def write(patient, steps, *, activate=True, medication="diazepam") -> int:
        response = client.post(
            f"/clinician/patients/{patient.id}/plans/new",
            data=plan_form(steps, medication=medication),
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        plan_id = int(re.search(r"/plans/(\d+)", response.headers["Location"]).group(1))
        if activate:
            response = client.post(
                f"/clinician/plans/{plan_id}/status",
                data={"status": "active", "version": str(version_of(app, plan_id))},
            )
            assert response.status_code == 302
        return plan_id

    return write


@pytest.fixture
def active_plan(client, clinician, patient, write_plan):
    """An active plan for ``patient`` with 10 mg from 20 days ago and 7.5 mg from 3 days ago."""
    today = patient_today(patient)
    login_as(client, clinician)
    plan_id = write_plan(
        patient,
        [
            (today - timedelta(days=20), "10", {}, ""),
            (today - timedelta(days=3), "7.5", {}, "Smaller step"),
            (today + timedelta(days=11), "5", {}, ""),
        ],
    )
    return plan_id
