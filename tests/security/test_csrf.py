"""C4: with CSRF on, every state change needs the token; GET never changes state."""

import re

import pytest

from taper.models import User
from tests.conftest import PASSWORD, login_as
from tests.helpers import call, calls, changed_tables, row_counts, table_rows

CSRF_ON = pytest.mark.app_config(WTF_CSRF_ENABLED=True)


def token(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


@CSRF_ON
def test_login_without_token_is_400_and_with_token_works(client, clinician):
    response = client.post("/login", data={"email": clinician.email, "password": PASSWORD})
    assert response.status_code == 400
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"email": clinician.email, "password": PASSWORD, "csrf_token": token(page)}
    )
    assert response.status_code == 302


def test_every_post_route_refuses_a_tokenless_post(app, client, admin, world):
    """Every POST of the route catalogue, with the form that would do its work and the ids of
    real records, as someone allowed to use it: 400 without the token, and no row changed.
    (The world is made before CSRF is turned on, as its forms carry no token.)"""
    app.config["WTF_CSRF_ENABLED"] = True
    checked = 0
    for route, method, url in calls(app, world):
        if method != "POST":
            continue
        login_as(client, route.owner(world, admin))
        before = table_rows(app)
        # Red flags without a token still get the urgent screen, and are not kept (F9,
        # tests/redflags_kept/): that route is posted without its red flags.
        response = call(app, client, world, route, method, url, form=route.rule != "/help")
        assert response.status_code == 400, (url, response.status_code)
        assert not changed_tables(before, table_rows(app)), url
        checked += 1
    assert checked >= 15


@CSRF_ON
def test_new_account_needs_the_csrf_token(app, client, admin):
    login_as(client, admin)
    form = {"name": "Dr Jordan Ellis", "email": "jordan.ellis@example.org", "role": "clinician"}
    form["timezone"] = "Europe/London"
    refused = client.post("/admin/accounts/new", data=form)
    assert refused.status_code == 400
    assert row_counts(app, User) == (1,)

    page = client.get("/admin/accounts").get_data(as_text=True)
    accepted = client.post("/admin/accounts/new", data={**form, "csrf_token": token(page)})
    assert accepted.status_code == 200
    assert row_counts(app, User) == (2,)


@CSRF_ON
def test_logout_needs_the_token_and_get_cannot_log_out(client, patient):
    login_as(client, patient)
    assert client.post("/logout").status_code == 400
    assert client.get("/today").status_code == 200
    assert client.get("/logout").status_code == 405
    assert client.get("/today").status_code == 200
