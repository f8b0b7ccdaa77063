"""Fixtures for the job tests: a Redis queue of the test's own (its keys deleted afterwards),
an SMTP server, and accounts made on whichever app a test uses (``app`` or ``shared_app``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from redis import Redis

from taper.extensions import db
from taper.jobs import registry
from taper.jobs.failures import LOCAL
from taper.models import CareTeamLink, PlanStatus, Role, User
from taper.services import plans
from tests.conftest import PASSWORD_HASH
from tests.tools.smtp import free_port, smtp_server

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def queue_name() -> Iterator[str]:
    """A queue name no other test uses; every Redis key that names it is deleted afterwards
    (RQ's queue and registries, our tick and failure keys, and the jobs, whose ids start with
    it)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    redis = Redis.from_url(REDIS_URL)
    keys = list(redis.scan_iter(f"*{name}*", count=1000))
    if keys:
        redis.delete(*keys)
    for shared_set in ("rq:queues", "rq:workers"):  # RQ's lists of every queue and worker
        members = [m for m in redis.smembers(shared_set) if name.encode() in m]
        if members:
            redis.srem(shared_set, *members)
    redis.close()


@pytest.fixture
def redis_settings(queue_name: str) -> dict[str, object]:
    """Settings of an app on the real Redis with the test's own queue."""
    return {"REDIS_URL": REDIS_URL, "JOB_QUEUE": queue_name, "JOB_RETRY_SECONDS": "0,0"}


@pytest.fixture
def redis_app(app_factory, redis_settings):
    return app_factory(**redis_settings)


@pytest.fixture
def sample_jobs(monkeypatch) -> Iterator[dict[str, int]]:
    """The registry with two test jobs added ("ok" and "boom"), their call counts reset; the
    process's failure list emptied."""
    from tests.jobs import sample

    for name in ("ok", "boom"):
        job = registry.PeriodicJob(name, f"tests.jobs.sample:{name}", "OUTBOX_EVERY_SECONDS")
        monkeypatch.setitem(registry.JOBS, name, job)
        sample.calls[name] = 0
    LOCAL.recent.clear()
    yield sample.calls
    LOCAL.recent.clear()


@pytest.fixture
def mailbox() -> Iterator[tuple[int, object]]:
    """(port, mailbox) of a real SMTP server for the test."""
    port = free_port()
    with smtp_server(port) as box:
        yield port, box


def make_account(app, role: Role, clinicians: tuple[int, ...] = (), **fields) -> int:
    """An account on ``app``'s database; its id."""
    tag = uuid.uuid4().hex[:10]
    with app.app_context():
        user = User(
            role=role,
            email=f"{role.value}.{tag}@example.org",
            name=f"{role.value.capitalize()} {tag}",
            password_hash=PASSWORD_HASH,
            timezone="America/New_York",
            **fields,
        )
        db.session.add(user)
        db.session.flush()
        for clinician_id in clinicians:
            db.session.add(CareTeamLink(clinician_id=clinician_id, patient_id=user.id))
        db.session.commit()
        return user.id


def make_running_plan(app, clinician_id: int, patient_id: int, first, *doses: str) -> int:
    """An active plan typed by the clinician: a step a week from ``first``."""
    with app.app_context():
        clinician, patient = db.session.get(User, clinician_id), db.session.get(User, patient_id)
        rows = [
            {"start": (first + timedelta(days=7 * i)).isoformat(), "total": dose}
            for i, dose in enumerate(doses)
        ]
        plan = plans.create_plan(clinician, patient, "diazepam", rows)
        plans.change_status(clinician, plan, plan.version, PlanStatus.ACTIVE)
        db.session.commit()
        return plan.id


@pytest.fixture
def accounts() -> Callable[..., int]:
    return make_account
