"""A4 across app servers: with RATELIMIT_STORAGE_URI pointing at Redis, failed logins counted
by one app server slow down the next attempt on another (README "Deploying for real")."""

import uuid

import pytest
import redis

from tests.conftest import real_login

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own, removed afterwards."""
    prefix = f"taper-test-{uuid.uuid4().hex}"
    yield prefix
    server = redis.Redis.from_url(REDIS_URL)
    for key in server.scan_iter(f"*{prefix}*"):
        server.delete(key)


# No free failures: the first one already makes the next attempt wait 2 seconds (Redis keeps
# real time, so the test needs a wait longer than the gap between two requests).
SLOW = dict(LOGIN_DELAY_FREE_FAILURES=0)


def test_failed_logins_on_one_server_throttle_the_account_on_another(app_factory, redis_prefix):
    settings = dict(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=redis_prefix, **SLOW)
    first = app_factory(**settings)
    response = real_login(first.test_client(), "pat@example.org", "wrong password entirely")
    assert response.status_code == 200
    keys = [key.decode() for key in redis.Redis.from_url(REDIS_URL).scan_iter(f"*{redis_prefix}*")]
    assert keys
    assert not any("pat@example.org" in key for key in keys)  # accounts are hashed

    second = app_factory(**settings)  # another server: its own limiter, the same Redis
    slowed = real_login(second.test_client(), "pat@example.org")
    assert slowed.status_code == 429
    assert "and try again" in slowed.get_data(as_text=True)
    # Another account's attempt is still heard (and fails on its own merits).
    assert real_login(second.test_client(), "sam@example.org", "wrong").status_code == 200


def test_memory_storage_is_per_server(app_factory):
    """Why deployments with several servers need Redis: memory counts stay in one process."""
    first = app_factory(**SLOW)
    real_login(first.test_client(), "pat@example.org", "wrong password entirely")
    assert real_login(first.test_client(), "pat@example.org").status_code == 429
    second = app_factory(**SLOW)
    assert real_login(second.test_client(), "pat@example.org").status_code == 200
