"""The job queue on Redis (RQ): enqueueing the periodic jobs once per tick whatever the
number of workers, retries with backoff, and the failed-job registry (the dead letters)."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime

from flask import Flask
from redis import Redis
from rq import Queue, Retry
from rq.job import Job

from taper.jobs.registry import JOBS, find
from taper.shared import redis_client

log = logging.getLogger(__name__)
JOB_TIMEOUT = 600  # seconds a run may take before the worker stops it
FAILURE_TTL = 30 * 86400  # dead letters are kept this long
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def job_queue(app: Flask, connection: Redis | None = None) -> Queue:
    """The app's queue (JOB_QUEUE) on the given connection, or the app's own client."""
    return Queue(app.config["JOB_QUEUE"], connection=connection or redis_client(app))


def retry_policy(app: Flask) -> Retry | None:
    """Retry after each wait of JOB_RETRY_SECONDS (backoff); then the job is a dead letter."""
    waits = [int(part) for part in str(app.config["JOB_RETRY_SECONDS"]).split(",") if part.strip()]
    return Retry(max=len(waits), interval=waits) if waits else None


def _job_id(app: Flask, name: str, suffix: str) -> str:
    return _UNSAFE.sub("_", f"{app.config['JOB_QUEUE']}-{name}-{suffix}")


def enqueue(app: Flask, name: str, tick: datetime, job_id: str, connection=None) -> Job:
    """Put one run of a job on the queue: only its name and the time it is due for."""
    find(name)  # an unknown name is a programming error: fail here, not in the worker
    stamp = tick.astimezone(UTC).isoformat(timespec="seconds")
    return job_queue(app, connection).enqueue(
        "taper.jobs.runner.perform",
        name,
        stamp,
        job_id=job_id,
        description=f"{name} due {stamp}",
        retry=retry_policy(app),
        job_timeout=JOB_TIMEOUT,
        result_ttl=0,
        failure_ttl=FAILURE_TTL,
    )


def tick_key(app: Flask, name: str, tick: int) -> str:
    return f"taper:jobs:{app.config['JOB_QUEUE']}:tick:{name}:{tick}"


def enqueue_due(app: Flask, now: float, connection: Redis | None = None) -> list[str]:
    """Enqueue each periodic job whose tick (``now`` // its interval) is not yet claimed.

    Any number of workers may call this every second: the first to SET the tick's key (NX)
    enqueues it, the others see the key. The key expires after two intervals, so a Redis that
    kept nothing (restarted, no persistence) costs at most one extra run of an idempotent
    job, and the schedule needs no other state. Returns the names enqueued."""
    connection = connection or redis_client(app)
    enqueued = []
    for name, job in JOBS.items():
        every = job.every(app)
        tick = int(now // every)
        if connection.set(tick_key(app, name, tick), "1", nx=True, ex=int(every * 2) + 1):
            due = datetime.fromtimestamp(tick * every, UTC)
            enqueue(app, name, due, _job_id(app, name, str(tick)), connection)
            enqueued.append(name)
    return enqueued


def enqueue_now(app: Flask, name: str) -> Job:
    """One extra run of a job now (``kick``)."""
    suffix = f"now-{uuid.uuid4().hex[:12]}"
    return enqueue(app, name, datetime.now(UTC), _job_id(app, name, suffix))
