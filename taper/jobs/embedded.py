"""Without Redis (`make run`): the periodic jobs on a timer in the app's own process, a
daemon thread started once, on the first request (never in tests or CLI commands such as
`flask db upgrade`, which serve no request). A failed run is logged and counted, and the job
simply runs again at its next tick."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from flask import Flask

from taper.jobs.registry import JOBS, PeriodicJob
from taper.jobs.runner import run_job

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class Timer:
    """Runs each job every ``job.every(app)`` seconds, one after another, on one thread."""

    def __init__(
        self, app: Flask, jobs: Mapping[str, PeriodicJob] | None = None, poll: float = POLL_SECONDS
    ) -> None:
        self.app = app
        self.jobs = dict(jobs if jobs is not None else JOBS)
        self.poll = poll
        self.due = {name: 0.0 for name in self.jobs}  # every job runs once at start
        self.runs = {name: 0 for name in self.jobs}
        self.stopping = threading.Event()
        self.woken = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="taper-jobs-timer", daemon=True)

    def start(self) -> Timer:
        self.thread.start()
        log.info("embedded job timer started: %s", ", ".join(self.jobs))
        return self

    def stop(self, wait: float = 5.0) -> None:
        self.stopping.set()
        self.woken.set()
        if self.thread.ident is not None:  # started
            self.thread.join(wait)

    def wake(self, name: str) -> None:
        """Run this job at once (``kick``, "Try again" on the admin's page)."""
        if name in self.due:
            self.due[name] = 0.0
            self.woken.set()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            for name, job in self.jobs.items():
                if self.stopping.is_set() or time.monotonic() < self.due[name]:
                    continue
                self._run(name)
                self.due[name] = time.monotonic() + job.every(self.app)
            pause = min(self.due.values(), default=0.0) - time.monotonic()
            self.woken.wait(min(max(pause, 0.05), self.poll))
            self.woken.clear()

    def _run(self, name: str) -> None:
        try:
            run_job(self.app, name, self.jobs[name])
        except Exception:  # noqa: BLE001  (logged and counted by run_job; the next tick retries)
            log.debug("job %s will run again at its next tick", name)
        finally:
            self.runs[name] += 1


_start_lock = threading.Lock()


def wanted(app: Flask) -> bool:
    """The timer runs without Redis, when JOBS_EMBEDDED, and never under tests."""
    return bool(app.config["JOBS_EMBEDDED"] and not app.config["REDIS_URL"] and not app.testing)


def start_once(app: Flask) -> Timer | None:
    """This process's timer for the app (started by the first request that gets here)."""
    timer = app.extensions.get("taper_jobs_timer")
    if timer is not None or not wanted(app):
        return timer
    with _start_lock:
        timer = app.extensions.get("taper_jobs_timer")
        if timer is None:
            timer = app.extensions["taper_jobs_timer"] = Timer(app).start()
    return timer
