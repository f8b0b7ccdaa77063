"""A4 across app servers: with RATELIMIT_STORAGE_URI pointing at Redis, failed logins counted
by one app server refuse the next attempt on another (README "Deploying for real")."""

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


def test_failed_logins_on_one_server_throttle_the_account_on_another(app_factory, redis_prefix):
    settings = dict(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=redis_prefix)
    first = app_factory(**settings)
    for _ in range(5):
        response = real_login(first.test_client(), "pat@example.org", "wrong password entirely")
        assert response.status_code == 200
    assert any(redis.Redis.from_url(REDIS_URL).scan_iter(f"*{redis_prefix}*"))

    second = app_factory(**settings)  # another server: its own limiter, the same Redis
    assert real_login(second.test_client(), "pat@example.org").status_code == 429
    # Another account's attempt is still heard (and fails on its own merits).
    assert real_login(second.test_client(), "sam@example.org", "wrong").status_code == 200


def test_memory_storage_is_per_server(app_factory):
    """Why deployments with several servers need Redis: memory counts stay in one process."""
    first = app_factory()
    for _ in range(5):
        real_login(first.test_client(), "pat@example.org", "wrong password entirely")
    assert real_login(first.test_client(), "pat@example.org").status_code == 429
    second = app_factory()
    assert real_login(second.test_client(), "pat@example.org").status_code == 200
