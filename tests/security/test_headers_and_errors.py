"""D1-D3, C6, F1: headers on every response, no-store, generic errors, body limits, 503."""

import pytest

from taper import create_app
from taper.web import CSP
from tests.conftest import login_as

CSP_PARTS = ["default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]


def assert_security_headers(response):
    for part in CSP_PARTS:
        assert part in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_headers_on_pages_and_404(client, patient):
    assert_security_headers(client.get("/login"))
    missing = client.get("/no/such/page")
    assert missing.status_code in (302, 404)
    login_as(client, patient)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert_security_headers(missing)
    assert missing.headers["Cache-Control"] == "no-store"


def test_no_store_on_pages_but_not_on_static_files(client, patient):
    login_as(client, patient)
    assert client.get("/today").headers["Cache-Control"] == "no-store"
    static = client.get("/static/css/app.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


@pytest.mark.app_config(PROPAGATE_EXCEPTIONS=False)
def test_forced_exception_gives_a_generic_500_with_headers(app, client, patient):
    """D3: no traceback, no exception text; the session is rolled back."""

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("secret internal detail")

    from taper.access import PUBLIC_ENDPOINTS  # noqa: F401  (the route still needs a login)

    login_as(client, patient)
    response = client.get("/boom-for-test")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on our side" in body
    assert "secret internal detail" not in body
    assert "Traceback" not in body
    assert_security_headers(response)


def test_body_over_the_limit_is_413(client):
    """C6: 2 MB to the login form."""
    response = client.post("/login", data={"email": "a@b.org", "password": "x" * (2 << 20)})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 40}, "DATABASE_URL"),
        ({"SECRET_KEY": "dev-only-not-secret", "DATABASE_URL": "sqlite://"}, "default"),
        ({"SECRET_KEY": "short", "DATABASE_URL": "sqlite://"}, "32"),
        (
            {
                "SECRET_KEY": "x" * 40,
                "DATABASE_URL": "sqlite://",
                "TWO_STEP_KEYS": "mXgO1lmUvBmWmpCtt9DgIeQJYcG5GxrKvz7ZUbNXPQs=",
            },
            "PUBLIC_URL",
        ),
    ],
)
def test_production_refuses_unsafe_settings(monkeypatch, env, message):
    """D3: no default secret, no missing database in production."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(RuntimeError, match=message):
        create_app(config_name="production")


def test_production_checks_the_host_header(monkeypatch, database_url):
    monkeypatch.setenv("SECRET_KEY", "y" * 40)
    monkeypatch.setenv("TWO_STEP_KEYS", "mXgO1lmUvBmWmpCtt9DgIeQJYcG5GxrKvz7ZUbNXPQs=")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PUBLIC_URL", "https://taper.example.org")
    app = create_app(config_name="production")
    app.config["TRUSTED_HOSTS"] = ["taper.example.org"]
    client = app.test_client()
    assert client.get("/login", headers={"Host": "evil.com"}).status_code == 400
    assert client.get("/login", headers={"Host": "taper.example.org"}).status_code == 200


def test_database_down_gives_503_and_no_traceback():
    """F1: a dead database is a clear 503, never a traceback."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/x",
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_pre_ping": True,
                "connect_args": {"connect_timeout": 2},
            },
        }
    )
    client = app.test_client()
    page = client.get("/health")
    assert page.status_code == 503
    assert "Taper is not available just now" in page.get_data(as_text=True)
    api = client.get("/health", headers={"Accept": "application/json"})
    assert api.status_code == 503
    assert api.json["message"].startswith("Nothing was saved")


def test_csp_allows_no_inline_code(client):
    page = client.get("/login").get_data(as_text=True)
    assert "<script" not in page
    assert " style=" not in page
    assert CSP.count("'self'") >= 3
