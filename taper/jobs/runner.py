"""Running one job: in an app context of its own (a fresh database session), with its
failure logged and counted. The RQ worker calls ``perform``; the embedded timer ``run_job``."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from flask import Flask, current_app, has_app_context
from redis import RedisError
from rq import get_current_job

from taper.extensions import db
from taper.jobs.failures import count_failure
from taper.jobs.registry import PeriodicJob, find
from taper.jobs.tasks import JobFailed

log = logging.getLogger(__name__)
_app: Flask | None = None
_app_lock = threading.Lock()


def use_app(app: Flask | None) -> None:
    """The app this process's jobs run in (the worker makes one at start)."""
    global _app  # one app per worker process, by design
    _app = app


def worker_app() -> Flask:
    """The process's app: the one given to ``use_app``, the current one, or one made once."""
    global _app
    if _app is not None:
        return _app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    with _app_lock:
        if _app is None:
            from taper import create_app

            _app = create_app()
    return _app


def run_job(app: Flask, name: str, job: PeriodicJob | None = None) -> object:
    """Run the named job now; a failure is rolled back, logged, counted and raised."""
    job = job or find(name)
    with app.app_context():
        try:
            result = job.resolve()(datetime.now(UTC))
            db.session.commit()  # jobs commit their own work; this ends a read-only transaction
        except Exception as error:
            db.session.rollback()
            count_failure(app, name, error)
            raise
    return result


def perform(name: str, tick: str) -> object:
    """RQ's entry point. Its arguments are the job's name and the time it was due for,
    nothing else (never health data). What RQ stores of a failure (its dead letter) is a
    description with no data in it, not the original exception."""
    del tick  # shown in the job's description; the job runs as of now
    try:
        return run_job(worker_app(), name)
    except Exception as error:  # noqa: BLE001  (re-raised, described without its data)
        from taper.jobs.failures import describe

        error_type, message = describe(error)
        _note_on_job(error_type, message)
        raise JobFailed(f"{error_type}: {message}" if message else error_type) from None


def _note_on_job(error_type: str, message: str) -> None:
    job = get_current_job()
    if job is None:
        return
    job.meta["error"] = {"type": error_type, "message": message}
    try:
        job.save_meta()
    except RedisError as error:
        log.warning("job %s: error not noted (%s)", job.id, type(error).__name__)
