"""What the health endpoints ask: the database, and Redis when the app uses one.

``/health`` (kept for existing load balancers) lets a dead database raise, so it gets the
app's 503 page. ``/readyz`` asks each dependency and reports every answer, so a load
balancer or an operator sees which one is down."""

from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from taper.extensions import db
from taper.shared import redis_client

log = logging.getLogger(__name__)


def check_database() -> None:
    """Ask the database a trivial question; raises if it cannot answer."""
    db.session.execute(text("SELECT 1"))


def _database_ready() -> bool:
    try:
        check_database()
    except SQLAlchemyError as error:
        log.warning("readiness: database unavailable (%s)", type(error).__name__)
        try:
            db.session.rollback()
        except SQLAlchemyError:
            pass  # nothing to roll back on a connection that never opened
        return False
    return True


def _redis_ready() -> bool:
    client = redis_client(current_app)
    try:
        return bool(client is not None and client.ping())
    except RedisError as error:
        log.warning("readiness: Redis unavailable (%s)", type(error).__name__)
        return False


def readiness() -> tuple[bool, dict[str, str]]:
    """(every dependency answers, {dependency: "ok" or "failing"}); Redis only when configured."""
    checks = {"database": _database_ready()}
    if current_app.config["REDIS_URL"]:
        checks["redis"] = _redis_ready()
    return all(checks.values()), {name: "ok" if ok else "failing" for name, ok in checks.items()}
