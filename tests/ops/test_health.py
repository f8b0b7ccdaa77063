"""/healthz (process alive, no database) and /readyz (database and, when configured, Redis):
public, never rate-limited, no audit row; /readyz answers 503 naming what is down."""

from __future__ import annotations

import pytest

from taper import create_app
from taper.models import AuditEvent
from tests.helpers import count_rows
from tests.ops.conftest import DEAD_REDIS, SHARED_REDIS

DEAD_DATABASE = {
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/x",
    "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
}


def test_healthz_answers_without_a_database():
    client = create_app(DEAD_DATABASE).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "ok"


def test_readyz_with_a_database_and_no_redis_configured(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_is_503_with_a_dead_database():
    response = create_app(DEAD_DATABASE).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "failing", "checks": {"database": "failing"}}


@pytest.mark.app_config(REDIS_URL=SHARED_REDIS)
def test_readyz_pings_redis_when_configured(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.app_config(REDIS_URL=DEAD_REDIS)
def test_readyz_is_503_with_a_dead_redis(client, caplog):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "failing", "checks": {"database": "ok", "redis": "failing"}}
    assert "readiness: Redis unavailable" in caplog.text


def test_readyz_is_503_when_redis_is_killed(server, own_redis):
    client = server(REDIS_URL=own_redis.url).test_client()
    assert client.get("/readyz").status_code == 200
    own_redis.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"] == "failing"


@pytest.mark.parametrize("url", ["/healthz", "/readyz", "/health", "/ping"])
def test_health_endpoints_are_public_unthrottled_and_not_audited(app, client, url):
    for _ in range(150):
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        assert "Location" not in response.headers
    with app.app_context():
        assert count_rows(AuditEvent) == 0
