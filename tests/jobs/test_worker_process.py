"""The real `flask --app taper worker` process, on a Redis of the test's own that is stopped
and started again (with nothing kept): the worker waits it out and carries on, and every
e-mail is sent once (issue 16, items 1 and 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from taper.extensions import db
from taper.services import notify
from tests.tools.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]


def redis_server(port: int, folder: Path) -> subprocess.Popen:
    """A Redis of the test's own: loopback only, nothing kept, its folder the test's."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(folder)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def queue_mail(app, to: str) -> None:
    with app.app_context():
        notify.queue(to, "Taper: an urgent alert", "Please sign in.")
        db.session.commit()


def test_the_worker_survives_redis_going_away_and_sends_each_email_once(
    app_factory, database_url, tmp_path, mailbox
):
    smtp_port, box = mailbox
    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{tmp_path / 'worker.db'}"
    app = app_factory(SQLALCHEMY_DATABASE_URI=database_url)  # the schema, and cleaning up
    redis_port = free_port()
    redis = redis_server(redis_port, tmp_path)
    env = {
        **os.environ,
        "TAPER_CONFIG": "development",
        "SECRET_KEY": "k" * 40,
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "JOB_QUEUE": "drill",
        "OUTBOX_EVERY_SECONDS": "1",
        "ALERT_SCAN_EVERY_SECONDS": "3600",
        "REMINDERS_EVERY_SECONDS": "3600",
        "SMTP_PORT": str(smtp_port),
        "LOG_FORMAT": "text",
    }
    command = [sys.executable, "-m", "flask", "--app", "taper", "worker"]
    log = tmp_path / "worker.log"
    try:
        with log.open("w") as output:
            worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
    except OSError:
        redis.kill()
        raise
    try:
        queue_mail(app, "first@example.org")
        wait_for(lambda: len(box.messages) == 1, 20)
        redis.terminate()
        redis.wait(10)
        queue_mail(app, "second@example.org")
        time.sleep(3)
        assert worker.poll() is None
        redis = redis_server(redis_port, tmp_path)
        wait_for(lambda: len(box.messages) == 2, 30)
        time.sleep(2)  # a few more ticks: nothing is sent twice
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
        redis.terminate()
        redis.wait(10)
    assert worker.returncode == 0
    assert [m.rcpt_tos for m in box.messages] == [["first@example.org"], ["second@example.org"]]
    text = log.read_text()
    assert "Redis unreachable" in text
    assert "Redis reachable again" in text
