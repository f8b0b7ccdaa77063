"""Background jobs (issue 16): sending the outbox, the alert scan and reminders.

With REDIS_URL they run on an RQ queue worked by `flask --app taper worker` (retries with
backoff; failed jobs are dead letters an admin sees at /admin/jobs). Without it, and with
JOBS_EMBEDDED (`make run`), they run on a timer inside the app's process. Either way each job
is idempotent: it may run twice, or on two workers at once."""

from __future__ import annotations

import logging

from flask import Flask, current_app
from redis import RedisError

from taper.jobs.registry import JOBS

log = logging.getLogger(__name__)
__all__ = ["JOBS", "dead_letter_count", "failures_total", "init_app", "kick"]


def init_app(app: Flask) -> None:
    """The job queue (Redis), or the in-process timer without Redis."""
    from taper.jobs import embedded

    if embedded.wanted(app):

        @app.before_request
        def _start_job_timer() -> None:
            embedded.start_once(app)


def kick(name: str, app: Flask | None = None) -> bool:
    """Run a job as soon as possible (e.g. the outbox once an urgent alert is committed).
    Never raises into a request: Redis being down is logged, and the job still runs at its
    next tick. True when it was enqueued (or the timer woken)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        if app.config["REDIS_URL"]:
            from taper.jobs.queue import enqueue_now

            enqueue_now(app, name)
            return True
        timer = app.extensions.get("taper_jobs_timer")
        if timer is not None:
            timer.wake(name)
            return True
    except (RedisError, OSError) as error:
        log.warning("job %s not kicked: %s", name, type(error).__name__)
    except Exception:  # noqa: BLE001  (a request must never fail for want of an early run)
        log.exception("job %s not kicked", name)
    return False


def failures_total(app: Flask | None = None) -> int:
    """Failed job attempts: counted in Redis (every worker's, since Redis last started) when
    configured, else in this process. Never raises: Redis down gives this process's count."""
    from taper.jobs.failures import LOCAL, failures_key
    from taper.shared import redis_client

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    client = redis_client(app)
    if client is not None:
        try:
            return int(client.get(failures_key(app)) or 0)
        except (RedisError, ValueError) as error:
            log.warning("job failures not read from Redis (%s)", type(error).__name__)
    return LOCAL.total


def dead_letter_count(app: Flask | None = None) -> int:
    """Failed jobs waiting for an admin (/admin/jobs). Never raises: Redis down gives 0."""
    from taper.jobs.dead_letters import dead_letter_count as count

    return count(app or current_app._get_current_object())  # type: ignore[attr-defined]
