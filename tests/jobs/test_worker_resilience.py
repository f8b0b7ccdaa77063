"""What keeps the background jobs going whatever one error does (issue 16, item 1): the
worker starts RQ again when RQ quits on its own, the enqueuer outlives an error that is not
Redis's, and one message the mail library refuses never holds up the rest of the outbox."""

from __future__ import annotations

import threading

from redis import Redis
from sqlalchemy import select

from taper.extensions import db
from taper.jobs import worker
from taper.models import OutboxMessage
from taper.services import notify


def test_the_worker_starts_rq_again_when_rq_quits_unasked(app, monkeypatch):
    """RQ logs "quitting" and returns on a Redis timeout or an error of its own: nobody asked
    the worker to stop, so it waits and works again; it stops when asked."""
    runs = iter([False, False, True])  # RQ quit twice on its own, then was asked to stop
    calls, waits = [], []
    monkeypatch.setattr(worker, "_work", lambda *args: calls.append(args) or next(runs))
    monkeypatch.setattr(worker, "connection", lambda app: Redis(port=1))
    monkeypatch.setattr(worker.time, "sleep", waits.append)

    worker.run(app, schedule=False)

    assert len(calls) == 3
    assert waits == [1.0, 2.0]  # the backoff between the restarts


def test_a_burst_worker_stops_when_rq_returns(app, monkeypatch):
    calls = []
    monkeypatch.setattr(worker, "_work", lambda *args: calls.append(args) or False)
    monkeypatch.setattr(worker, "connection", lambda app: Redis(port=1))

    worker.run(app, burst=True, schedule=False)

    assert len(calls) == 1


def test_the_enqueuer_outlives_an_error_that_is_not_redis(app, monkeypatch, caplog):
    ticks = []
    stop = threading.Event()

    def enqueue_due(app, now, redis):
        ticks.append(now)
        if len(ticks) == 1:
            raise ValueError("JOB_RETRY_SECONDS: 'soon' is not a number")
        if len(ticks) == 3:
            stop.set()
        return []

    monkeypatch.setattr(worker, "enqueue_due", enqueue_due)
    monkeypatch.setattr(worker, "ENQUEUE_EVERY_SECONDS", 0.01)
    monkeypatch.setattr(worker, "MAX_BACKOFF_SECONDS", 0.04)
    thread = threading.Thread(target=worker.enqueue_forever, args=(app, stop, None))
    thread.start()
    thread.join(10)

    assert not thread.is_alive()
    assert len(ticks) == 3  # it went on after the error
    assert "job enqueuer failed" in caplog.text


def test_a_message_the_mail_library_refuses_does_not_hold_up_the_others(app, mailbox):
    port, box = mailbox
    app.config["SMTP_PORT"] = port
    with app.app_context():
        # A header with a line break: the e-mail library refuses to build it (ValueError).
        notify.queue("broken@example.org\nBcc: someone@example.org", "Taper", "Hello")
        notify.queue("clinician@example.org", "Taper: an urgent alert", "Please sign in.")
        db.session.commit()
        sent, failed = notify.send_pending()
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()

    assert (sent, failed) == (1, 1)
    assert [m.rcpt_tos for m in box.messages] == [["clinician@example.org"]]
    assert rows[0].sent_at is None
    assert rows[0].attempts == 1
    assert rows[0].last_error == "ValueError"
    assert rows[0].next_attempt_at > rows[1].created_at  # waits its backoff
    assert rows[1].sent_at is not None
