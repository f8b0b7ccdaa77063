"""Issue 16 item 2: with REDIS_URL set, login throttling counts and the chart cache live in
Redis, shared by every app server; with Redis down (never reachable, or killed mid-test) the
pages keep working: login works and failures still slow down (per process), a red flag is
stored and its urgent page shown, a chart is drawn. The failure is logged, not flooded."""

from __future__ import annotations

import logging
import signal
import time
import uuid

import redis
from sqlalchemy import select

from taper.charts import cache
from taper.extensions import db
from taper.models import Alert, RedFlagReport
from tests.conftest import PASSWORD, login_as, real_login
from tests.ops.conftest import DEAD_REDIS, SHARED_REDIS, redis_settings

# No free failures: the first wrong password makes the next attempt wait 2 seconds.
SLOW = {"LOGIN_DELAY_FREE_FAILURES": 0}


def red_flags(app, patient) -> list[RedFlagReport]:
    with app.app_context():
        return list(db.session.scalars(select(RedFlagReport).filter_by(patient_id=patient.id)))


def urgent_alerts(app, patient) -> list[Alert]:
    with app.app_context():
        found = select(Alert).filter_by(patient_id=patient.id, tier="urgent")
        return list(db.session.scalars(found))


def send_red_flag(client) -> str:
    response = client.post(
        "/help", data={"red_flags": "chest_pain", "submission_id": uuid.uuid4().hex}
    )
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def chart(client, patient) -> bytes:
    response = client.get(f"/charts/{patient.id}/progress.png")
    assert response.status_code == 200, response.status_code
    assert response.data.startswith(b"\x89PNG")
    return response.data


def assert_pages_work_without_redis(app, patient, clinician, caplog) -> None:
    """Login works, wrong passwords still slow down, a red flag is kept and shown, and a
    chart is drawn, with Redis unreachable; the outage is logged."""
    assert real_login(app.test_client(), clinician.email, PASSWORD).status_code == 302
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        assert real_login(client, patient.email, "not the password at all").status_code == 200
        slowed = real_login(client, patient.email)
        assert slowed.status_code == 429  # counted in this process's memory
        assert "and try again" in slowed.get_data(as_text=True)
    assert "login throttling storage unreachable" in caplog.text
    other = app.test_client()
    login_as(other, patient)
    assert "Get urgent help now" in send_red_flag(other)
    assert len(red_flags(app, patient)) == 1
    assert len(urgent_alerts(app, patient)) == 1
    with caplog.at_level(logging.WARNING):
        assert chart(other, patient) == chart(other, patient)
    assert caplog.text.count("chart cache: Redis unreachable") == 1  # not once per chart


def test_redis_that_never_answers_leaves_every_page_working(
    server, caplog, patient, clinician, active_plan
):
    app = server(**redis_settings(DEAD_REDIS, "unused"), **SLOW)
    assert_pages_work_without_redis(app, patient, clinician, caplog)


def test_redis_killed_mid_run_leaves_every_page_working(
    server, own_redis, caplog, patient, clinician, active_plan, prefix
):
    app = server(**redis_settings(own_redis.url, prefix), **SLOW)
    client = app.test_client()
    login_as(client, patient)
    chart(client, patient)
    store = redis.Redis.from_url(own_redis.url)
    assert list(store.scan_iter(f"{prefix}:chart:*")), "the chart is kept in Redis"
    assert real_login(app.test_client(), "someone@example.org", "wrong").status_code == 200
    assert list(store.scan_iter(f"*{prefix}*password*")), "the count is kept in Redis"

    own_redis.stop()
    assert_pages_work_without_redis(app, patient, clinician, caplog)


def test_login_works_at_once_when_redis_is_down(server, patient):
    """Today's bug: a dead Redis gave a 500 at login."""
    app = server(**redis_settings(DEAD_REDIS, "unused"))
    response = real_login(app.test_client(), patient.email)
    assert response.status_code == 302


def test_the_chart_cache_is_shared_by_app_servers(server, patient, active_plan, prefix):
    settings = redis_settings(SHARED_REDIS, prefix)
    first, second = server(**settings), server(**settings)
    one, two = first.test_client(), second.test_client()
    login_as(one, patient)
    login_as(two, patient)
    image = chart(one, patient)
    assert (cache.charts.hits, cache.charts.misses) == (0, 1)
    cache.charts.clear()  # nothing kept in this process: the second server reads Redis
    assert chart(two, patient) == image
    assert (cache.charts.hits, cache.charts.misses) == (1, 0)
    store = redis.Redis.from_url(SHARED_REDIS)
    (key,) = store.scan_iter(f"{prefix}:chart:*")
    assert 0 < store.ttl(key) <= first.config["CHART_CACHE_SECONDS"]
    assert len(key) == len(f"{prefix}:chart:") + 64  # the data's sha256, no patient id


def test_login_failures_counted_on_one_server_slow_the_other(server, patient, prefix):
    settings = {**redis_settings(SHARED_REDIS, prefix), **SLOW}
    first, second = server(**settings), server(**settings)
    assert real_login(first.test_client(), patient.email, "wrong wrong").status_code == 200
    assert real_login(second.test_client(), patient.email).status_code == 429


def test_a_failed_redis_warning_is_not_repeated_for_every_chart(
    server, patient, active_plan, caplog
):
    app = server(**redis_settings(DEAD_REDIS, "unused"), CHART_CACHE_SECONDS=60)
    client = app.test_client()
    login_as(client, patient)
    with caplog.at_level(logging.WARNING):
        for size in ("narrow", "medium", "wide"):
            response = client.get(f"/charts/{patient.id}/progress.png?size={size}")
            assert response.status_code == 200
    assert caplog.text.count("chart cache: Redis unreachable") == 1


def test_the_two_step_code_limit_falls_back_to_memory_too(server, caplog):
    """/login/code's own limit (a Flask-Limiter decorator) with Redis down: its in-memory
    fallback answers, not a 500."""
    client = server(**redis_settings(DEAD_REDIS, "unused")).test_client()
    with caplog.at_level(logging.WARNING):
        response = client.post("/login/code", data={"code": "123456"})
    assert response.status_code == 302  # no login waiting for a code: back to the login page
    assert "falling back to in-memory storage" in caplog.text


def test_a_redis_that_hangs_costs_a_timeout_not_the_page(
    server, own_redis, patient, clinician, active_plan, prefix
):
    """A frozen Redis (SIGSTOP: connections open, nothing answers) is as good as a dead one
    after half a second: the chart is drawn, login works, and the next attempts do not wait
    again (the caller rests before asking Redis again)."""
    app = server(**redis_settings(own_redis.url, prefix))
    client = app.test_client()
    login_as(client, patient)
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        chart(client, patient)
        assert real_login(app.test_client(), clinician.email, PASSWORD).status_code == 302
        first = time.monotonic() - started
        started = time.monotonic()
        chart(client, patient)
        assert real_login(app.test_client(), clinician.email, PASSWORD).status_code == 302
        again = time.monotonic() - started
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    assert first < 8
    assert again < first
