"""The admin's dead letters: failed jobs (after their retries) with "Try again" and "Remove",
each audited. With Redis these are RQ's failed-job registry, shared by every worker; without
it, the recent failures this process saw (the timer runs each job again at its next tick)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from flask import Flask
from redis import RedisError
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from taper.extensions import db
from taper.jobs import embedded
from taper.jobs.failures import LOCAL, Failure
from taper.jobs.queue import job_queue
from taper.models import User
from taper.services import audit

log = logging.getLogger(__name__)
SHOWN = 100
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


class Unavailable(Exception):
    """Redis is configured but cannot be reached: the list cannot be read or changed now."""


def shared(app: Flask) -> bool:
    """True when the dead letters live in Redis (every worker's), not in this process."""
    return bool(app.config["REDIS_URL"])


def _registry(app: Flask) -> FailedJobRegistry:
    return FailedJobRegistry(queue=job_queue(app))


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.fromtimestamp(0, UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _failure(job: Job) -> Failure:
    error = job.meta.get("error") or {}
    name = job.args[0] if job.args else "?"
    return Failure(
        job.id,
        str(name),
        _aware(job.ended_at or job.enqueued_at),
        str(error.get("type", "unknown")),
        str(error.get("message", "")),
    )


def failed_jobs(app: Flask) -> list[Failure]:
    """The dead letters, newest first (at most SHOWN)."""
    if not shared(app):
        return list(LOCAL.recent)
    try:
        registry = _registry(app)
        ids = registry.get_job_ids(0, SHOWN - 1, desc=True)
        jobs = Job.fetch_many(ids, connection=registry.connection)
    except RedisError as error:
        raise Unavailable(type(error).__name__) from error
    return [_failure(job) for job in jobs if job is not None]


def dead_letter_count(app: Flask) -> int:
    """How many dead letters there are; 0 (logged) when Redis cannot be reached."""
    if not shared(app):
        return len(LOCAL.recent)
    try:
        return _registry(app).count
    except RedisError as error:
        log.warning("dead letters not counted: Redis unreachable (%s)", type(error).__name__)
        return 0


def _take(app: Flask, job_id: str, requeue: bool) -> str | None:
    """Requeue or delete a dead letter; its job name, or None when it is not there."""
    if not _JOB_ID.match(job_id or ""):
        return None
    if not shared(app):
        failure = LOCAL.take(job_id)
        if failure is not None and requeue:
            timer = app.extensions.get("taper_jobs_timer")
            if isinstance(timer, embedded.Timer):
                timer.wake(failure.name)
        return failure.name if failure else None
    try:
        registry = _registry(app)
        if job_id not in registry:
            return None
        job = Job.fetch(job_id, connection=registry.connection)
        name = str(job.args[0]) if job.args else "?"
        if requeue:
            registry.requeue(job_id)
        elif registry.remove(job_id):  # only what is still in the list: a retried job stays
            job.delete()
        else:
            return None  # another admin retried or removed it a moment ago
    except (InvalidJobOperation, NoSuchJobError):
        return None  # another admin retried or removed it a moment ago
    except RedisError as error:
        raise Unavailable(type(error).__name__) from error
    return name


def try_again(actor: User, app: Flask, job_id: str) -> str | None:
    """Put a dead letter back on the queue (audited); its job name, or None if not found."""
    return _act(actor, app, job_id, requeue=True)


def remove(actor: User, app: Flask, job_id: str) -> str | None:
    """Delete a dead letter for good (audited); its job name, or None if not found."""
    return _act(actor, app, job_id, requeue=False)


def _act(actor: User, app: Flask, job_id: str, *, requeue: bool) -> str | None:
    name = _take(app, job_id, requeue)
    if name is not None:
        action = "job.retry" if requeue else "job.remove"
        audit.record(actor, action, "job", None, summary={"job": name, "id": job_id})
        db.session.commit()
    return name
