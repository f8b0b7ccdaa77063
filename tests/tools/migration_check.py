"""Migration round trip on a fresh database: upgrade, check for drift, downgrade, upgrade.

Run as ``python -m tests.tools.migration_check`` (CI does, on SQLite and on PostgreSQL via
TEST_DATABASE_URL); ``tests/test_migrations.py`` calls ``round_trip`` too. On PostgreSQL the
migrations run as an owner role, as in production, and then the app role is granted its
rights (``flask db roles``) and must be able to read every table.
"""

from __future__ import annotations

import os

from flask_migrate import check, downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from taper import create_app
from taper.db_roles import rights_of
from taper.extensions import db
from tests.tools.databases import fresh_database, fresh_database_with_roles, is_postgres


def round_trip(url: str) -> list[str]:
    """Run the round trip against ``url``; return the tables present after the final upgrade."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        check()  # raises when the models and the migrations differ
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        tables = sorted(inspect(db.engine).get_table_names())
        db.engine.dispose()
    return tables


def round_trip_as_owner(base_url: str) -> list[str]:
    """The round trip as a PostgreSQL owner role (no superuser), then the app role's grants:
    it reads every table and is refused a TRUNCATE."""
    with fresh_database_with_roles(base_url) as database:
        tables = round_trip(database.owner_url)
        unlisted = database.grant()
        assert not unlisted, f"tables missing from taper/db_roles.py RIGHTS: {unlisted}"
        engine = create_engine(database.app_url)
        try:
            with engine.connect() as conn:
                for table in (t for t in tables if rights_of(t)):
                    conn.execute(text(f'SELECT count(*) FROM "{table}"'))  # noqa: S608
                allowed = conn.scalar(text("SELECT has_table_privilege('audit_event', 'TRUNCATE')"))
                assert allowed is False
        finally:
            engine.dispose()
    return tables


def main() -> None:
    base = os.environ.get("TEST_DATABASE_URL")
    if is_postgres(base):
        tables = round_trip_as_owner(base)
        print(f"migrations ok on postgresql, run as an owner role: {', '.join(tables)}")
        return
    with fresh_database(base) as url:
        tables = round_trip(url)
    print(f"migrations ok on {url.split(':', 1)[0]}: {', '.join(tables)}")


if __name__ == "__main__":
    main()
