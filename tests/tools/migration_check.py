"""Migration round trip on a fresh database: upgrade, check for drift, downgrade, upgrade.

Run as ``python -m tests.tools.migration_check`` (CI does, on SQLite and on PostgreSQL via
TEST_DATABASE_URL); ``tests/test_migrations.py`` calls ``round_trip`` too.
"""

from __future__ import annotations

import os

from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect

from taper import create_app
from taper.extensions import db
from tests.tools.databases import fresh_database


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


def main() -> None:
    with fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        tables = round_trip(url)
    print(f"migrations ok on {url.split(':', 1)[0]}: {', '.join(tables)}")


if __name__ == "__main__":
    main()
