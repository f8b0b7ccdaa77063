"""`flask --app taper worker`: an RQ worker on JOB_QUEUE (with RQ's scheduler, which puts
retries back on the queue when their wait is over) and the periodic enqueuer, in one process
with one app. Redis going away is logged and waited out with backoff, never fatal."""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid

from flask import Flask
from redis import Redis, RedisError
from rq import SimpleWorker

from taper.jobs.queue import enqueue_due, job_queue
from taper.jobs.runner import use_app

log = logging.getLogger(__name__)
ENQUEUE_EVERY_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 5
MAINTENANCE_SECONDS = 60
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def connection(app: Flask) -> Redis:
    """The worker's own connection: no read timeout, since it blocks waiting for jobs."""
    return Redis.from_url(
        app.config["REDIS_URL"],
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_keepalive=True,
        health_check_interval=30,
    )


class Backoff:
    """1, 2, 4 ... seconds (at most a minute) while Redis stays away; logged once a wait."""

    def __init__(self) -> None:
        self.wait = 1.0

    def failed(self, what: str, error: Exception) -> float:
        wait, self.wait = self.wait, min(self.wait * 2, MAX_BACKOFF_SECONDS)
        log.warning(
            "%s: Redis unreachable (%s); trying again in %.0f s", what, type(error).__name__, wait
        )
        return wait

    def reset(self) -> None:
        if self.wait > 1.0:
            log.info("Redis reachable again")
        self.wait = 1.0


def enqueue_forever(app: Flask, stop: threading.Event, redis: Redis | None = None) -> None:
    """Every second, enqueue the periodic jobs whose tick has come (``enqueue_due``)."""
    backoff = Backoff()
    pause = 0.0
    while not stop.wait(pause):
        try:
            enqueue_due(app, time.time(), redis)
        except RedisError as error:
            pause = backoff.failed("job enqueuer", error)
        except Exception:  # noqa: BLE001  (the schedule must outlive any one error)
            log.exception("job enqueuer failed; trying again")
            pause = MAX_BACKOFF_SECONDS / 4
        else:
            backoff.reset()
            pause = ENQUEUE_EVERY_SECONDS


def run(app: Flask, *, burst: bool = False, schedule: bool = True) -> None:
    """Work the queue until stopped (SIGINT/SIGTERM), or until it is empty with ``burst``.
    ``schedule``: also enqueue the periodic jobs (every worker may: each tick once)."""
    use_app(app)
    redis = connection(app)
    stop = threading.Event()
    if schedule and burst:
        _enqueue_once(app, redis)
    elif schedule:
        threading.Thread(
            target=enqueue_forever, args=(app, stop, redis), name="taper-enqueuer", daemon=True
        ).start()
    backoff = Backoff()
    try:
        while True:
            try:
                if _work(app, redis, burst) or burst:
                    return
                # RQ logs and returns on a Redis timeout or an error of its own ("quitting"):
                # nobody asked this worker to stop, so it starts again after a wait.
                time.sleep(backoff.failed("job worker", RuntimeError("RQ worker stopped")))
            except RedisError as error:
                if burst:
                    raise
                time.sleep(backoff.failed("job worker", error))
    finally:
        stop.set()
        use_app(None)


def _enqueue_once(app: Flask, redis: Redis) -> None:
    names = enqueue_due(app, time.time(), redis)
    log.info("enqueued %s", ", ".join(names) or "nothing (this tick was enqueued already)")


class _Worker(SimpleWorker):
    """RQ's in-process worker, remembering whether SIGINT/SIGTERM asked it to stop."""

    stop_asked = False

    def request_stop(self, signum, frame) -> None:
        self.stop_asked = True
        super().request_stop(signum, frame)


def _work(app: Flask, redis: Redis, burst: bool) -> bool:
    """Run one RQ worker until it returns; True when it was asked to stop."""
    queue = job_queue(app, redis)
    # Named after its queue (and unique), so `rq info` shows whose worker it is.
    name = f"{queue.name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    worker = _Worker(
        [queue],
        connection=redis,
        name=_UNSAFE.sub("_", name),
        # Also how soon RQ restarts its scheduler (retries after their wait) if a Redis outage
        # stopped it: a minute, not RQ's ten.
        maintenance_interval=MAINTENANCE_SECONDS,
    )
    worker.work(burst=burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"])
    return worker.stop_asked
