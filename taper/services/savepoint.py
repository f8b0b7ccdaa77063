"""Inserting a row that a unique index may refuse, without undoing the caller's work."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from taper.extensions import db


def insert_once(row: object) -> bool:
    """Add and flush ``row`` in a savepoint; False (and the row dropped, the rest of the
    transaction kept) when a unique index refuses it: a double submit or a race lost."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return False
    return True
