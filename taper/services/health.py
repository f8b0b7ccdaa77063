"""The health check's question to the database."""

from sqlalchemy import text

from taper.extensions import db


def check_database() -> None:
    """Ask the database a trivial question; raises if it cannot answer."""
    db.session.execute(text("SELECT 1"))
