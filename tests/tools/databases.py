"""Fresh, throw-away databases for a test run: a new PostgreSQL database, or a SQLite file.

``fresh_database`` gives a superuser's URL. ``fresh_database_with_roles`` also makes an owner
and an app role for that database alone (as ``flask db roles`` does in production) and gives
a URL for each: the schema is made as the owner, the app under test connects as the app role.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PREFIX = "taper_test_"
STALE_ROLE = rf"^{PREFIX}(gw[0-9]+_)?[0-9a-f]{{12}}_(owner|app)$"


def worker_tag() -> str:
    """``gw0_``, ``gw1_``... under pytest-xdist (each worker makes its own databases and roles
    at once), empty in a plain run: names then tell which worker made them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{worker}_" if re.fullmatch(r"gw[0-9]+", worker) else ""


def is_postgres(url: str | None) -> bool:
    return bool(url) and make_url(url).get_backend_name() == "postgresql"


@contextmanager
def fresh_database(base_url: str | None) -> Iterator[str]:
    """Yield the URL of an empty database made for this run, and drop it afterwards.

    PostgreSQL: a new database beside the one in ``base_url``. Otherwise a temporary SQLite file.
    """
    if is_postgres(base_url):
        name = f"{PREFIX}{worker_tag()}{uuid.uuid4().hex[:12]}"
        admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'taper.db'}"


@dataclass(frozen=True)
class RoleDatabase:
    """One test database and who may connect to it."""

    admin_url: str  # the superuser: roles and grants
    owner_url: str  # owns the tables: schema changes, emptying tables between tests
    app_url: str  # the app's restricted role
    owner: str = ""
    app_role: str = ""

    def grant(self) -> list[str]:
        """(Re)grant the roles their rights on the tables there now, as ``flask db roles``
        does after an upgrade. Returns the tables ``taper.db_roles.RIGHTS`` does not list."""
        from taper.db_roles import apply

        engine = create_engine(self.admin_url)
        try:
            with engine.begin() as conn:
                return apply(conn, self.owner, self.app_role)
        finally:
            engine.dispose()


def _drop_roles(admin, names: list[str]) -> None:
    """Drop the roles; one that another run's stale clean-up dropped meanwhile is gone as
    wanted (PostgreSQL may report that race as an error)."""
    for name in names:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        except Exception:
            with admin.connect() as conn:
                left = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name})
            if left:
                raise


def _drop_stale_roles(admin) -> None:
    """Roles left by a run that was killed before its clean-up: their database is gone.

    A role whose database still exists is live and never touched. Under pytest-xdist a worker
    leaves the roles another worker id made (``gw1_``) alone: this run's other workers drop
    their own roles right after their databases, and clearing them then would race them.
    """
    with admin.connect() as conn:
        stale = conn.scalars(
            text(
                "SELECT rolname FROM pg_roles WHERE rolname ~ :pattern AND NOT EXISTS "
                "(SELECT FROM pg_database WHERE datname = regexp_replace(rolname, "
                "'_(owner|app)$', ''))"
            ),
            {"pattern": STALE_ROLE},
        ).all()
    for name in (n for n in stale if may_clear(n, worker_tag())):
        try:
            _drop_roles(admin, [name])
        except Exception:  # noqa: BLE001,S110  (another run may be dropping it too)
            pass


def may_clear(role: str, mine: str) -> bool:
    """Whether a worker tagged ``mine`` (see worker_tag) clears this stale role: a plain run
    clears any; a worker its own and untagged ones, never another worker's."""
    tag = re.match(rf"{PREFIX}(gw[0-9]+_)", role)
    theirs = tag.group(1) if tag else ""
    return not mine or not theirs or theirs == mine


@contextmanager
def fresh_database_with_roles(
    base_url: str, create_schema: Callable[[str], None] | None = None
) -> Iterator[RoleDatabase]:
    """A fresh PostgreSQL database with its own owner and app roles (named after it, so runs
    on one server never share them; dropped afterwards). ``create_schema(owner_url)`` makes
    the tables as the owner; then the app role is granted its rights on them."""
    from taper.db_roles import run, statements

    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    _drop_stale_roles(admin)
    names: list[str] = []
    try:
        with fresh_database(base_url) as admin_url:
            name = make_url(admin_url).database
            names = [f"{name}_owner", f"{name}_app"]
            password = secrets.token_urlsafe(16)  # trust logins ignore it; others need it
            roles = RoleDatabase(
                admin_url=admin_url,
                owner_url=_as(admin_url, names[0], password),
                app_url=_as(admin_url, names[1], password),
                owner=names[0],
                app_role=names[1],
            )
            sql = statements(*names, [], owner_password=password, app_password=password)
            engine = create_engine(admin_url)
            try:
                with engine.begin() as conn:
                    run(conn, sql)
            finally:
                engine.dispose()
            if create_schema is not None:
                create_schema(roles.owner_url)
                roles.grant()
            yield roles
        # The database is gone now, and with it every right the roles held: they can go too.
    finally:
        _drop_roles(admin, names)
        admin.dispose()


def _as(url: str, user: str, password: str) -> str:
    return make_url(url).set(username=user, password=password).render_as_string(hide_password=False)
