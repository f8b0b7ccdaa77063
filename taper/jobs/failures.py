"""Job failures: a description safe to show and log (no health data), the count for
/metrics and, without Redis, the recent failures this process saw (the admin's list)."""

from __future__ import annotations

import logging
import re
import smtplib
import threading
import traceback
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask
from redis import RedisError
from sqlalchemy.exc import DBAPIError

from taper.shared import redis_client

log = logging.getLogger(__name__)
MESSAGE_LENGTH = 160
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
RECENT = 50  # failures kept in memory without Redis


@dataclass(frozen=True)
class Failure:
    """One failed run as an admin may see it: no arguments, no data, no traceback."""

    id: str
    name: str
    at: datetime
    error_type: str
    message: str


def describe(error: BaseException) -> tuple[str, str]:
    """(error type, short message) with nothing that could be health data: a database error's
    first line with anything quoted cut (its DETAIL line, parameters and quoted parts may
    hold values), an OS or Redis error's text, our own JobFailed's; any other error's text
    is left out (it could quote anything)."""
    name = type(error).__name__
    if isinstance(error, DBAPIError):
        first = (str(error.orig).strip().splitlines() or [""])[0]
        # Quoted parts can be values ('invalid input syntax for type integer: "..."').
        return name, _QUOTED.sub("…", first)[:MESSAGE_LENGTH]
    if isinstance(error, OSError | RedisError) and not isinstance(error, smtplib.SMTPException):
        return name, str(error)[:MESSAGE_LENGTH]
    from taper.jobs.tasks import JobFailed  # its texts are ours

    if isinstance(error, JobFailed):
        return name, str(error)[:MESSAGE_LENGTH]
    return name, ""


def log_failure(name: str, error: BaseException) -> tuple[str, str]:
    """Log a failed run: its description and where in the code (the frames, never the
    exception's text or local values)."""
    error_type, message = describe(error)
    where = "".join(traceback.format_tb(error.__traceback__)[-3:])
    log.error("job %s failed: %s %s\n%s", name, error_type, message, where.rstrip())
    return error_type, message


class _Counter:
    """Failures seen by this process, and the recent ones (without Redis: the dead letters)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.recent: deque[Failure] = deque(maxlen=RECENT)

    def add(self, name: str, error_type: str, message: str) -> Failure:
        failure = Failure(uuid.uuid4().hex, name, datetime.now(UTC), error_type, message)
        with self.lock:
            self.total += 1
            self.recent.appendleft(failure)
        return failure

    def take(self, failure_id: str) -> Failure | None:
        with self.lock:
            for failure in self.recent:
                if failure.id == failure_id:
                    self.recent.remove(failure)
                    return failure
        return None


LOCAL = _Counter()


def failures_key(app: Flask) -> str:
    return f"taper:jobs:{app.config['JOB_QUEUE']}:failures"


def count_failure(app: Flask, name: str, error: BaseException) -> Failure:
    """Log and count one failed attempt: in this process and, when configured, in Redis (so
    /metrics on any server counts every worker's). Redis being down is logged, not raised."""
    error_type, message = log_failure(name, error)
    failure = LOCAL.add(name, error_type, message)
    client = redis_client(app)
    if client is not None:
        try:
            client.incr(failures_key(app))
        except RedisError as redis_error:
            log.warning("job failure not counted in Redis (%s)", type(redis_error).__name__)
    return failure
