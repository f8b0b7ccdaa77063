"""The admin's Failed jobs page (dead letters): listed without data, "Try again" and
"Remove" are audited POSTs, and nobody but an admin gets in (issue 16, item 1)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from taper.extensions import db
from taper.jobs.queue import enqueue, job_queue
from taper.jobs.runner import run_job, use_app
from taper.models import AuditEvent, Role
from tests.conftest import login_as
from tests.jobs.conftest import REDIS_URL
from tests.jobs.sample import SECRET
from tests.tools.smtp import free_port


def fail_once_for_good(app) -> str:
    """A "boom" job run through all its retries into the dead letters; its id."""
    job_id = f"{app.config['JOB_QUEUE']}-boom-{uuid.uuid4().hex[:6]}"
    enqueue(app, "boom", datetime.now(UTC), job_id)
    work(app)
    return job_id


def work(app) -> None:
    connection = Redis.from_url(REDIS_URL)
    queue = job_queue(app, connection)
    use_app(app)
    try:
        name = f"{queue.name}-{uuid.uuid4().hex[:8]}"
        SimpleWorker([queue], connection=connection, name=name).work(burst=True)
    finally:
        use_app(None)
        connection.close()


def audit_actions(app) -> list[tuple[str, dict]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.action, AuditEvent.summary)
            .where(AuditEvent.action.like("job.%"))
            .order_by(AuditEvent.id)
        ).all()
    return [(action, summary) for action, summary in rows]


@pytest.fixture
def admin_client(redis_app, make_user_on):
    client = redis_app.test_client()
    login_as(client, make_user_on(redis_app, Role.ADMIN))
    return client


@pytest.fixture
def make_user_on():
    """A user (detached copy) on a given app's database."""
    from taper.models import User
    from tests.jobs.conftest import make_account

    def make(app, role: Role):
        user_id = make_account(app, role)
        with app.app_context():
            user = db.session.get(User, user_id)
            db.session.expunge(user)
        return user

    return make


def test_admin_sees_a_dead_letter_without_its_data(redis_app, admin_client, sample_jobs):
    job_id = fail_once_for_good(redis_app)
    page = admin_client.get("/admin/jobs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "boom" in html
    assert "RuntimeError" in html
    assert job_id in html
    assert SECRET not in html
    assert "inside this app" not in html  # the shared list, not one process's


def test_try_again_puts_the_job_back_on_the_queue(redis_app, admin_client, sample_jobs):
    job_id = fail_once_for_good(redis_app)
    response = admin_client.post("/admin/jobs/retry", data={"job": job_id})
    assert response.status_code == 302
    assert "will run again" in admin_client.get("/admin/jobs").get_data(as_text=True)
    assert job_queue(redis_app).job_ids == [job_id]
    assert FailedJobRegistry(queue=job_queue(redis_app)).count == 0
    assert audit_actions(redis_app) == [("job.retry", {"job": "boom", "id": job_id})]
    work(redis_app)
    assert sample_jobs["boom"] == 4  # three runs before, one now: still failing, kept again
    assert FailedJobRegistry(queue=job_queue(redis_app)).get_job_ids() == [job_id]


def test_remove_deletes_the_dead_letter(redis_app, admin_client, sample_jobs):
    job_id = fail_once_for_good(redis_app)
    assert admin_client.post("/admin/jobs/remove", data={"job": job_id}).status_code == 302
    registry = FailedJobRegistry(queue=job_queue(redis_app))
    assert registry.count == 0
    assert not registry.connection.exists(f"rq:job:{job_id}")
    assert audit_actions(redis_app) == [("job.remove", {"job": "boom", "id": job_id})]
    assert "No failed jobs." in admin_client.get("/admin/jobs").get_data(as_text=True)


@pytest.mark.parametrize(
    ("first", "second"),
    [("retry", "retry"), ("remove", "retry"), ("retry", "remove"), ("remove", "remove")],
)
def test_a_job_another_admin_just_took_is_no_longer_there(
    redis_app, admin_client, sample_jobs, monkeypatch, first, second
):
    """Two admins press at once: by the time the second acts, the first has retried or
    removed the job. The second is told it is no longer in the list (it was a 500), and only
    the first is audited."""
    from taper.jobs import dead_letters

    job_id = fail_once_for_good(redis_app)
    fetch = dead_letters.Job.fetch
    registry = FailedJobRegistry(queue=job_queue(redis_app))

    class TakenMeanwhile(dead_letters.Job):
        @classmethod
        def fetch(cls, *args, **kwargs):
            job = fetch(*args, **kwargs)
            if first == "retry":
                registry.requeue(job_id)
            else:
                registry.remove(job_id, delete_job=True)
            taken.append(first)
            return job

    taken: list[str] = []
    monkeypatch.setattr(dead_letters, "Job", TakenMeanwhile)
    response = admin_client.post(f"/admin/jobs/{second}", data={"job": job_id})
    assert response.status_code == 302
    assert taken
    assert "no longer in the list" in admin_client.get("/admin/jobs").get_data(as_text=True)
    assert audit_actions(redis_app) == []
    # What the first admin did stands: a retried job is still queued, whatever came second.
    assert (job_id in job_queue(redis_app).job_ids) == (first == "retry")


@pytest.mark.parametrize("job_id", ["no-such-job", "../../etc", "", "x" * 300, "a b"])
def test_an_unknown_job_changes_nothing(redis_app, admin_client, sample_jobs, job_id):
    kept = fail_once_for_good(redis_app)
    for action in ("retry", "remove"):
        response = admin_client.post(f"/admin/jobs/{action}", data={"job": job_id})
        assert response.status_code == 302
    assert "no longer in the list" in admin_client.get("/admin/jobs").get_data(as_text=True)
    assert FailedJobRegistry(queue=job_queue(redis_app)).get_job_ids() == [kept]
    assert audit_actions(redis_app) == []


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.PATIENT])
def test_only_admins_get_in(redis_app, make_user_on, sample_jobs, role):
    job_id = fail_once_for_good(redis_app)
    client = redis_app.test_client()
    assert client.get("/admin/jobs").headers["Location"].startswith("/login")
    login_as(client, make_user_on(redis_app, role))
    assert client.get("/admin/jobs").status_code == 403
    for action in ("retry", "remove"):
        assert client.post(f"/admin/jobs/{action}", data={"job": job_id}).status_code == 403
    assert FailedJobRegistry(queue=job_queue(redis_app)).get_job_ids() == [job_id]


def test_with_redis_down_the_page_says_so(app_factory, queue_name, make_user_on):
    app = app_factory(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", JOB_QUEUE=queue_name)
    client = app.test_client()
    login_as(client, make_user_on(app, Role.ADMIN))
    page = client.get("/admin/jobs")
    assert page.status_code == 503
    assert "cannot be reached right now" in page.get_data(as_text=True)
    response = client.post("/admin/jobs/retry", data={"job": "anything"}, follow_redirects=True)
    assert "cannot be reached right now" in response.get_data(as_text=True)


def test_without_redis_the_page_shows_this_process_failures(app_factory, make_user_on, sample_jobs):
    app = app_factory()
    with pytest.raises(RuntimeError):
        run_job(app, "boom")
    client = app.test_client()
    login_as(client, make_user_on(app, Role.ADMIN))
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "inside this app" in html
    assert "boom" in html
    assert SECRET not in html
    from taper.jobs.failures import LOCAL

    (failure,) = LOCAL.recent
    assert client.post("/admin/jobs/remove", data={"job": failure.id}).status_code == 302
    assert list(LOCAL.recent) == []
    assert audit_actions(app) == [("job.remove", {"job": "boom", "id": failure.id})]


def test_the_buttons_need_a_csrf_token(app_factory, redis_settings, make_user_on, sample_jobs):
    app = app_factory(**redis_settings, WTF_CSRF_ENABLED=True)
    job_id = fail_once_for_good(app)
    client = app.test_client()
    login_as(client, make_user_on(app, Role.ADMIN))
    assert client.post("/admin/jobs/remove", data={"job": job_id}).status_code == 400
    assert FailedJobRegistry(queue=job_queue(app)).get_job_ids() == [job_id]
