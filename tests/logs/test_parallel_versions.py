"""F10: parallel *different* daily logs for one patient and day all land, each as a version."""

import threading

from sqlalchemy import select

from taper.extensions import db
from taper.models import AuditEvent, DailyLog, Role
from tests.conftest import login_as
from tests.helpers import log_form, patient_today

THREADS = 10


def _patient(app, email: str):
    from taper.services import accounts

    with app.app_context():
        clinician = accounts.create_user(None, email=f"c-{email}", name="Dr C", role=Role.CLINICIAN)
        patient = accounts.create_user(None, email=email, name="P", role=Role.PATIENT)
        accounts.add_to_care_team(None, clinician, patient)
        db.session.commit()
        db.session.refresh(patient)
        db.session.expunge(patient)
    return patient


def _post_at_once(app, patient, forms) -> list[int]:
    clients = [app.test_client() for _ in forms]
    for client in clients:
        login_as(client, patient)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def post(client, data):
        barrier.wait()
        statuses.append(client.post("/log", data=data).status_code)

    threads = [
        threading.Thread(target=post, args=(client, data))
        for client, data in zip(clients, forms, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def test_ten_parallel_different_logs_of_one_day_give_ten_versions(shared_app):
    """Ten devices save ten different logs of the same day at the same instant: ten versions,
    numbered 1 to 10, every note kept, no 500 ("no free version number")."""
    app = shared_app
    patient = _patient(app, "p@versions.example.org")
    day = patient_today(patient)
    forms = [log_form(day, score=n % 5, note=f"Device {n}") for n in range(THREADS)]
    statuses = _post_at_once(app, patient, forms)
    assert sorted(statuses) == [302] * THREADS
    with app.app_context():
        kept = db.session.execute(
            select(DailyLog.version, DailyLog.note).where(DailyLog.patient_id == patient.id)
        ).all()
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.in_(["log.save", "log.correct"]))
        ).all()
    assert sorted(version for version, _ in kept) == list(range(1, THREADS + 1))
    assert sorted(note for _, note in kept) == sorted(f"Device {n}" for n in range(THREADS))
    assert sorted(actions) == ["log.correct"] * (THREADS - 1) + ["log.save"]


def test_parallel_different_and_identical_posts_mixed(shared_app):
    """Five different logs, each sent twice at once (double clicks): five versions, and each
    double click saved once ("already saved" for its twin)."""
    app = shared_app
    patient = _patient(app, "p@mixed.example.org")
    day = patient_today(patient)
    different = [log_form(day, note=f"Form {n}") for n in range(THREADS // 2)]
    statuses = _post_at_once(app, patient, [*different, *different])
    assert sorted(statuses) == [302] * THREADS
    with app.app_context():
        kept = db.session.execute(
            select(DailyLog.version, DailyLog.note).where(DailyLog.patient_id == patient.id)
        ).all()
    assert sorted(version for version, _ in kept) == list(range(1, THREADS // 2 + 1))
    assert sorted(note for _, note in kept) == sorted(f"Form {n}" for n in range(THREADS // 2))
