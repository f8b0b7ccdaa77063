"""Helpers for the kept red-flag tests: rows, the kept cookie, a database that goes away."""

from __future__ import annotations

import re
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from taper.extensions import db
from taper.kept_reports import COOKIE

URGENT = "Call 911 now or go to the nearest emergency department."
KEPT = "It is kept on this device"
UNSENT = "could not send your report"
SENT_NOW = "has now been sent to your care team."
WAITING = "A report made on this device is waiting: log in to send it to your care team."


def rows(app, model):
    with app.app_context():
        return db.session.scalars(select(model).order_by(model.id)).all()


def kept_cookie(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie is not None else None


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


@contextmanager
def database_down(app, spare=lambda statement: False):
    """Every SQL statement fails as if the server were gone (those ``spare`` lets through
    excepted: a database that goes away in the middle of a request)."""
    with app.app_context():
        engine = db.engine

    def refuse(_conn, _cursor, statement, parameters, _context, _many):
        if not spare(statement):
            raise OperationalError(statement, parameters, Exception("server closed the connection"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
