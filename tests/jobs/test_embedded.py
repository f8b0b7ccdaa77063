"""Without Redis (`make run`): the jobs run on a timer in the app's process, started by the
first request, never in tests or CLI commands; a failing job is logged and tried again at
its next tick, and the others keep running (issue 16, item 1)."""

from __future__ import annotations

import time

from taper.jobs import embedded, kick
from taper.jobs.failures import LOCAL
from taper.jobs.registry import JOBS
from tests.jobs.sample import SECRET


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_timer_runs_jobs_and_survives_a_failing_one(app_factory, sample_jobs, caplog):
    app = app_factory(OUTBOX_EVERY_SECONDS=0.1)
    jobs = {name: JOBS[name] for name in ("ok", "boom")}
    timer = embedded.Timer(app, jobs, poll=0.05).start()
    try:
        wait_for(lambda: sample_jobs["ok"] >= 3 and sample_jobs["boom"] >= 3)
        assert timer.thread.is_alive()
    finally:
        timer.stop()
    assert not timer.thread.is_alive()
    assert len(LOCAL.recent) >= 3
    assert {f.name for f in LOCAL.recent} == {"boom"}
    assert "job boom failed: RuntimeError" in caplog.text
    assert SECRET not in caplog.text


def test_the_timer_runs_the_real_jobs(app_factory):
    """The registry's own jobs (outbox, alert scan, reminders) run without Redis."""
    app = app_factory()
    before = LOCAL.total
    timer = embedded.Timer(app).start()
    try:
        wait_for(lambda: all(timer.runs[name] >= 1 for name in JOBS))
    finally:
        timer.stop()
    assert LOCAL.total == before  # none of them failed


def test_kick_runs_a_job_before_its_tick(app_factory, sample_jobs):
    app = app_factory(OUTBOX_EVERY_SECONDS=3600)
    timer = embedded.Timer(app, {"ok": JOBS["ok"]}, poll=0.05)
    app.extensions["taper_jobs_timer"] = timer.start()
    try:
        wait_for(lambda: sample_jobs["ok"] == 1)
        with app.app_context():
            assert kick("ok") is True
        wait_for(lambda: sample_jobs["ok"] == 2)
    finally:
        timer.stop()


def test_no_timer_under_tests_with_redis_or_when_switched_off(app_factory):
    for settings in ({"JOBS_EMBEDDED": True}, {"JOBS_EMBEDDED": False, "TESTING": False}):
        app = app_factory(**settings)
        app.test_client().get("/ping")
        assert "taper_jobs_timer" not in app.extensions
    assert not embedded.wanted(
        app_factory(JOBS_EMBEDDED=True, TESTING=False, REDIS_URL="redis://127.0.0.1:1/0")
    )
    assert embedded.wanted(app_factory(JOBS_EMBEDDED=True, TESTING=False))


def test_the_first_request_starts_one_timer(app_factory, monkeypatch):
    """As `make run` does: outside tests, without Redis, the first request starts the timer;
    later requests keep that one. (A CLI command serves no request: no timer.)"""
    started: list[embedded.Timer] = []

    class Recording(embedded.Timer):
        def start(self):
            started.append(self)
            return self  # not running its thread: the jobs are not this test's subject

    monkeypatch.setattr(embedded, "Timer", Recording)
    app = app_factory(JOBS_EMBEDDED=True, TESTING=False)
    app.test_cli_runner().invoke(args=["alerts", "scan"])
    assert started == []
    client = app.test_client()
    client.get("/ping")
    client.get("/ping")
    assert len(started) == 1
    assert app.extensions["taper_jobs_timer"] is started[0]


def test_failures_are_described_without_data():
    from sqlalchemy.exc import IntegrityError, OperationalError

    from taper.jobs.failures import describe
    from taper.jobs.tasks import JobFailed

    raw = Exception('invalid input syntax for type integer: "shaking"\nDETAIL: Key (x)=(y)')
    assert describe(IntegrityError("INSERT ...", {"note": SECRET}, raw)) == (
        "IntegrityError",
        "invalid input syntax for type integer: …",
    )
    locked = OperationalError("SELECT 1", {}, Exception("database is locked"))
    assert describe(locked) == ("OperationalError", "database is locked")
    assert describe(ConnectionRefusedError(111, "Connection refused")) == (
        "ConnectionRefusedError",
        "[Errno 111] Connection refused",
    )
    assert describe(ValueError(SECRET)) == ("ValueError", "")
    assert describe(JobFailed("1 batch(es) of the alert scan failed"))[1].startswith("1 batch")
