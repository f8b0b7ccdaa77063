"""Jobs on the real Redis (RQ): retries with backoff, dead letters, the once-per-tick
enqueuer, the worker command, and what happens when Redis is away (issue 16, item 1)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

import taper.jobs as jobs
from taper.jobs import queue as job_queue_module
from taper.jobs.queue import enqueue, enqueue_due, job_queue
from taper.jobs.registry import JOBS
from taper.jobs.runner import run_job, use_app
from tests.jobs.conftest import REDIS_URL
from tests.jobs.sample import SECRET
from tests.tools.smtp import free_port


def work(app) -> None:
    """Run what is on the app's queue until it is empty, in this process, with this app (as
    the worker command does with the app it makes)."""
    connection = Redis.from_url(REDIS_URL)
    use_app(app)
    try:
        queue = job_queue(app, connection)
        name = f"{queue.name}-{uuid.uuid4().hex[:8]}"  # so the fixture deletes its keys
        SimpleWorker([queue], connection=connection, name=name).work(burst=True)
    finally:
        use_app(None)
        connection.close()


def enqueue_one(app, name: str, suffix: str = "1"):
    return enqueue(app, name, datetime.now(UTC), f"{app.config['JOB_QUEUE']}-{name}-{suffix}")


def test_a_failing_job_is_retried_then_kept_as_a_dead_letter(redis_app, sample_jobs):
    enqueue_one(redis_app, "boom")
    work(redis_app)
    assert sample_jobs["boom"] == 3  # the first run and two retries (JOB_RETRY_SECONDS=0,0)
    with redis_app.app_context():
        assert jobs.failures_total() == 3
        assert jobs.dead_letter_count() == 1
    registry = FailedJobRegistry(queue=job_queue(redis_app))
    (job_id,) = registry.get_job_ids()
    job = registry.job_class.fetch(job_id, connection=registry.connection)
    assert job.args[0] == "boom"
    assert job.meta["error"] == {"type": "RuntimeError", "message": ""}
    stored = repr(job.to_dict())
    assert SECRET not in stored  # what RQ keeps of the failure holds no data


def test_a_job_that_works_leaves_nothing_behind(redis_app, sample_jobs):
    enqueue_one(redis_app, "ok")
    work(redis_app)
    assert sample_jobs["ok"] == 1
    with redis_app.app_context():
        assert jobs.dead_letter_count() == 0
        assert jobs.failures_total() == 0


def test_retries_wait_longer_each_time(app_factory, redis_settings, sample_jobs):
    app = app_factory(**{**redis_settings, "JOB_RETRY_SECONDS": "30,120"})
    enqueue_one(app, "boom")
    before = time.time()
    work(app)
    assert sample_jobs["boom"] == 1  # the retry waits 30 s in the scheduled registry
    scheduled = ScheduledJobRegistry(queue=job_queue(app))
    (job_id,) = scheduled.get_job_ids()
    at = scheduled.connection.zscore(scheduled.key, job_id)
    assert before + 29 <= at <= time.time() + 31
    job = scheduled.job_class.fetch(job_id, connection=scheduled.connection)
    assert (job.retries_left, job.retry_intervals) == (1, [30, 120])


def test_two_enqueuers_on_one_tick_enqueue_each_job_once(redis_app):
    now = time.time()
    results: list[list[str]] = []
    start = threading.Barrier(4)

    def enqueuer() -> None:
        start.wait()
        results.append(enqueue_due(redis_app, now))

    threads = [threading.Thread(target=enqueuer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(name for names in results for name in names) == sorted(JOBS)
    queued = job_queue(redis_app).get_jobs()
    assert sorted(job.args[0] for job in queued) == sorted(JOBS)
    assert all(len(job.args) == 2 and isinstance(job.args[1], str) for job in queued)
    # The next tick of a job is enqueued again.
    every = JOBS["outbox"].every(redis_app)
    assert "outbox" in enqueue_due(redis_app, now + every)


def test_the_worker_command_runs_the_queue(app_factory, redis_settings, mailbox):
    port, box = mailbox
    app = app_factory(**redis_settings, SMTP_PORT=port)
    with app.app_context():
        from taper.extensions import db
        from taper.services import notify

        notify.queue("dr@example.org", "Taper: an urgent alert", "Please sign in.")
        db.session.commit()
    enqueue_one(app, "outbox")
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--no-schedule"])
    assert result.exit_code == 0, result.output
    assert [m.rcpt_tos for m in box.messages] == [["dr@example.org"]]
    assert job_queue(app).count == 0


def test_the_worker_command_with_schedule_enqueues_and_runs_the_periodic_jobs(
    app_factory, redis_settings
):
    app = app_factory(**redis_settings, SMTP_PORT=free_port())
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert job_queue(app).count == 0
    with app.app_context():
        assert jobs.dead_letter_count() == 0  # outbox, alert scan, reminders: all ran


def test_the_worker_command_needs_redis(app):
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0
    assert "REDIS_URL is not set" in result.output


def test_kick_enqueues_one_run_now(redis_app, sample_jobs):
    with redis_app.app_context():
        assert jobs.kick("ok") is True
    work(redis_app)
    assert sample_jobs["ok"] == 1


def test_with_redis_down_nothing_raises(app_factory, queue_name, sample_jobs, caplog):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = app_factory(REDIS_URL=dead, JOB_QUEUE=queue_name)
    with app.app_context():
        before = jobs.failures_total()
        assert jobs.kick("ok") is False
        assert jobs.dead_letter_count() == 0
        with pytest.raises(RuntimeError):
            run_job(app, "boom")
        assert jobs.failures_total() == before + 1  # counted in the process meanwhile
    assert "not kicked" in caplog.text
    assert "Redis unreachable" in caplog.text
    assert SECRET not in caplog.text


def test_the_enqueuer_waits_out_redis_and_carries_on(app_factory, queue_name, caplog):
    """A Redis of the test's own, stopped and started again: the enqueuer logs, backs off and
    enqueues again once Redis is back (a Redis that kept nothing: the schedule needs no
    state)."""
    import subprocess

    from taper.jobs import worker

    caplog.set_level(logging.INFO, logger="taper.jobs.worker")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    app = app_factory(REDIS_URL=url, JOB_QUEUE=queue_name, OUTBOX_EVERY_SECONDS=1)
    own = Redis.from_url(url)
    _wait_for(lambda: _pings(own))
    stop = threading.Event()
    thread = threading.Thread(target=worker.enqueue_forever, args=(app, stop), daemon=True)
    try:
        thread.start()
        _wait_for(lambda: job_queue(app, own).count >= 3)
        server.terminate()
        server.wait(10)
        time.sleep(2.5)
        assert thread.is_alive()
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _wait_for(lambda: _pings(own))
        _wait_for(lambda: job_queue(app, own).count >= 1, seconds=10)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(5)
        server.terminate()
        server.wait(10)
        own.close()
    assert "job enqueuer: Redis unreachable" in caplog.text
    assert "Redis reachable again" in caplog.text


def _pings(redis: Redis) -> bool:
    try:
        return bool(redis.ping())
    except Exception:  # noqa: BLE001
        return False


def _wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_job_ids_are_safe_for_any_queue_name(app_factory, queue_name):
    app = app_factory(REDIS_URL=REDIS_URL, JOB_QUEUE=f"{queue_name}:with.odd/chars")
    job = job_queue_module.enqueue_now(app, "outbox")
    assert job.id.startswith(f"{queue_name}_with_odd_chars-outbox-now-")
    assert job.args[0] == "outbox"
