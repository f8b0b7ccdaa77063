"""Fresh, throw-away databases for a test run: a new PostgreSQL database, or a SQLite file."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def fresh_database(base_url: str | None) -> Iterator[str]:
    """Yield the URL of an empty database made for this run, and drop it afterwards.

    PostgreSQL: a new database beside the one in ``base_url``. Otherwise a temporary SQLite file.
    """
    if base_url and make_url(base_url).get_backend_name() == "postgresql":
        name = f"taper_test_{uuid.uuid4().hex[:12]}"
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
