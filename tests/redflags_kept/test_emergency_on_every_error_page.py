"""F9: the login page and every error page say where to get help now, with the clinic's own
number, and render with no database."""

import re

import pytest

from tests.conftest import login_as
from tests.redflags_kept.support import database_down

CLINIC = {"URGENT_EMERGENCY_NUMBER": "112", "PROPAGATE_EXCEPTIONS": False}


def assert_clinics_number(response):
    text = re.sub(r'name="csrf_token" value="[^"]*"', "", response.text)
    assert 'href="tel:112"' in text
    assert "Call 112 now" in text
    assert "If you need help now" in text
    assert "911" not in text


@pytest.mark.app_config(**CLINIC)
def test_login_and_error_pages_show_the_clinics_emergency_number(app, client, patient):
    @app.get("/boom-for-kept-test")
    def boom():
        raise RuntimeError("secret internal detail")

    pages = {"login": client.get("/login")}
    pages[404] = client.get("/no/such/page")
    pages[400] = client.get("/login?x=%00")
    pages[413] = client.post("/login", data={"email": "a@b.org", "password": "x" * (2 << 20)})
    login_as(client, patient)
    pages[500] = client.get("/boom-for-kept-test")
    with database_down(app):
        pages[503] = client.get("/today")
    for code, response in pages.items():
        assert response.status_code == (200 if code == "login" else code), code
        assert_clinics_number(response)


@pytest.mark.app_config(**CLINIC)
def test_the_login_page_renders_with_no_database(app, client):
    with database_down(app):
        response = client.get("/login")
    assert response.status_code == 200
    assert_clinics_number(response)


@pytest.mark.app_config(**CLINIC, TRUSTED_HOSTS=["taper.example.org"])
def test_the_plain_text_error_has_the_emergency_line(client):
    response = client.get("/login", headers={"Host": "evil.com"})
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert "Call 112 now" in response.text
    assert "911" not in response.text
