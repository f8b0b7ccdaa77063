"""Every job may run twice, and on two workers at once: one e-mail per message, one alert
per situation (issue 16, item 1)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from taper.domain.schedule import local_today
from taper.extensions import db
from taper.jobs.runner import run_job
from taper.models import Alert, OutboxMessage, Role
from taper.services import notify
from tests.jobs.conftest import make_account, make_running_plan


def queue_mail(app, count: int = 1) -> None:
    with app.app_context():
        for n in range(count):
            notify.queue(f"dr{n}@example.org", "Taper: an urgent alert", "Please sign in.")
        db.session.commit()


def patients_needing_alerts(app, count: int = 3) -> None:
    """Patients whose plan started nine days ago and who never logged: missed-log alerts."""
    clinician = make_account(app, Role.CLINICIAN)
    first = local_today(datetime.now(UTC), "America/New_York") - timedelta(days=9)
    for _ in range(count):
        patient = make_account(app, Role.PATIENT, (clinician,))
        make_running_plan(app, clinician, patient, first, "4", "3", "2")


def alert_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Alert.id)))


def unsent(app) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_(None))
        )


def at_once(app, name: str, workers: int = 2) -> list[BaseException]:
    """Run the job on ``workers`` threads released together; the errors they raised."""
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        start.wait()
        try:
            run_job(app, name)
        except BaseException as error:  # noqa: BLE001  (reported by the test)
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_outbox_job_run_twice_sends_each_email_once(app_factory, mailbox):
    port, box = mailbox
    app = app_factory(SMTP_PORT=port)
    queue_mail(app, 2)
    run_job(app, "outbox")
    run_job(app, "outbox")
    assert sorted(m.rcpt_tos[0] for m in box.messages) == ["dr0@example.org", "dr1@example.org"]
    assert unsent(app) == 0


def test_outbox_job_on_two_workers_at_once_sends_each_email_once(app_factory, mailbox, tmp_path):
    port, box = mailbox
    app = _shared(app_factory, tmp_path, SMTP_PORT=port)
    queue_mail(app, 3)
    assert at_once(app, "outbox", workers=3) == []
    assert len(box.messages) == 3
    assert len({m.rcpt_tos[0] for m in box.messages}) == 3
    assert unsent(app) == 0


def test_alert_scan_job_run_twice_raises_each_alert_once(app):
    patients_needing_alerts(app)
    assert run_job(app, "alert_scan") >= 3
    raised = alert_count(app)
    assert run_job(app, "alert_scan") == 0
    assert alert_count(app) == raised
    with app.app_context():
        kinds = db.session.scalars(select(Alert.kind).where(Alert.kind == "missed_logs")).all()
    assert len(kinds) == 3  # one per patient


def test_alert_scan_job_on_two_workers_at_once_raises_each_alert_once(app_factory, tmp_path):
    app = _shared(app_factory, tmp_path)
    patients_needing_alerts(app)
    assert at_once(app, "alert_scan") == []
    with app.app_context():
        missed = db.session.scalars(
            select(Alert.patient_id).where(Alert.kind == "missed_logs")
        ).all()
        per_situation = db.session.execute(
            select(func.count(Alert.id)).group_by(Alert.patient_id, Alert.kind, Alert.plan_id)
        ).scalars()
    assert len(missed) == len(set(missed)) == 3
    assert set(per_situation) == {1}


def _shared(app_factory, tmp_path, **settings):
    """As the ``shared_app`` fixture, with settings: PostgreSQL, or a SQLite file."""
    if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        return app_factory(**settings)
    url = f"sqlite:///{tmp_path / 'parallel.db'}"
    return app_factory(SQLALCHEMY_DATABASE_URI=url, **settings)
