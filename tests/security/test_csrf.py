"""C4: with CSRF on, every state change needs the token; GET never changes state."""

import re

import pytest
from werkzeug.routing import IntegerConverter

from tests.conftest import PASSWORD, login_as

pytestmark = pytest.mark.app_config(WTF_CSRF_ENABLED=True)


def token(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def test_login_without_token_is_400_and_with_token_works(client, clinician):
    response = client.post("/login", data={"email": clinician.email, "password": PASSWORD})
    assert response.status_code == 400
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"email": clinician.email, "password": PASSWORD, "csrf_token": token(page)}
    )
    assert response.status_code == 302


def test_every_post_route_refuses_a_tokenless_post(app, client, clinician, patient, admin):
    users = {"/admin/": admin, "/clinician/": clinician}
    checked = 0
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        url = rule.rule
        for arg in rule.arguments:
            number = isinstance(rule._converters[arg], IntegerConverter)
            url = re.sub(rf"<(?:\w+:)?{arg}>", str(patient.id) if number else "x", url)
        user = next((u for prefix, u in users.items() if url.startswith(prefix)), patient)
        login_as(client, user)
        response = client.post(url, data={"note": "x", "reason": "x"})
        assert response.status_code == 400, (url, response.status_code)
        checked += 1
    assert checked >= 15


def test_logout_needs_the_token_and_get_cannot_log_out(client, patient):
    login_as(client, patient)
    assert client.post("/logout").status_code == 400
    assert client.get("/today").status_code == 200
    assert client.get("/logout").status_code == 405
    assert client.get("/today").status_code == 200
