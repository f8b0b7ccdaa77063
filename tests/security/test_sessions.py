"""Sign-in and sessions: A2-A9, C5, D4 of SECURITY.md."""

import logging
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine

from taper.extensions import db
from taper.models import Role, User
from taper.services import accounts
from taper.services.passwords import hash_password
from tests.conftest import PASSWORD, login_as, real_login
from tests.helpers import field_error, plan_form, six_steps, version_of

COOKIE = "taper_session"


def test_password_hash_is_argon2id(app):
    """A3."""
    assert hash_password("a long walk by the river").startswith("$argon2id$")
    with app.app_context():
        user = accounts.create_user(
            None,
            email="h@example.org",
            name="H",
            role=Role.PATIENT,
            password="a long walk by the river",
        )
        db.session.commit()
        assert db.session.get(User, user.id).password_hash.startswith("$argon2id$")


def test_login_works_and_email_case_does_not_matter(client, clinician):
    response = real_login(client, clinician.email.upper())
    assert response.status_code == 302
    assert client.get("/clinician/patients").status_code == 200


def test_same_message_for_unknown_email_and_wrong_password(client, clinician):
    """A4: the two failures read the same."""
    unknown = real_login(client, "nobody@example.org").get_data(as_text=True)
    wrong = real_login(client, clinician.email, "not the password at all").get_data(as_text=True)

    def message(page):
        return re.search(r'class="error" id="password-error">(.*?)</p>', page, re.S).group(1)

    assert message(unknown) == message(wrong)
    assert "do not match" in message(unknown)


def test_deactivated_and_passwordless_accounts_cannot_log_in(app, client, make_user):
    gone = make_user(Role.CLINICIAN, active=False)
    fresh = make_user(Role.PATIENT, password_hash=None)
    for user in (gone, fresh):
        assert real_login(client, user.email).status_code == 200
        assert client.get("/").status_code == 302


def test_account_throttle_holds_against_rotating_forwarded_for(client, clinician):
    """A4: after 3 failures the account waits before its next attempt, whatever
    X-Forwarded-For says (more in test_throttling.py)."""
    with time_machine.travel(datetime.now(UTC), tick=False):
        for i in range(3):
            response = real_login(
                client,
                clinician.email,
                "wrong password number",
                headers={"X-Forwarded-For": f"10.0.0.{i}"},
            )
            assert response.status_code == 200
        slowed = real_login(
            client, clinician.email, PASSWORD, headers={"X-Forwarded-For": "10.9.9.9"}
        )
    assert slowed.status_code == 429
    assert "Wait 1 second and try again" in slowed.get_data(as_text=True)


@pytest.mark.app_config(LOGIN_LIMIT_PER_IP="3 per minute")
def test_ip_throttle_counts_failures_across_accounts(client, make_user):
    users = [make_user(Role.PATIENT) for _ in range(4)]
    for user in users[:3]:
        assert real_login(client, user.email, "wrong password here").status_code == 200
    assert real_login(client, users[3].email).status_code == 429


def test_successful_logins_are_not_counted(client, clinician):
    for _ in range(7):
        assert real_login(client, clinician.email).status_code == 302
        client.post("/logout")


def test_session_is_renewed_at_login(client, clinician):
    """A5: keys set before login are gone and the cookie changes."""
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    before = client.get_cookie(COOKIE).value
    real_login(client, clinician.email)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == clinician.get_id()
    assert client.get_cookie(COOKIE).value != before


def copy_session(app, client):
    other = app.test_client()
    other.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return other


def test_logout_ends_every_session(app, client, clinician):
    """A6: the old cookie, replayed, leads to the login page."""
    real_login(client, clinician.email)
    stolen = copy_session(app, client)
    assert stolen.get("/clinician/patients").status_code == 200
    client.post("/logout")
    replay = stolen.get("/clinician/patients")
    assert replay.status_code == 302
    assert replay.headers["Location"].startswith("/login")


def test_password_change_ends_other_sessions_but_not_this_one(app, client, clinician):
    real_login(client, clinician.email)
    other = copy_session(app, client)
    response = client.post(
        "/password",
        data={
            "current_password": PASSWORD,
            "password": "a brand new long passphrase",
            "confirm": "a brand new long passphrase",
        },
    )
    assert response.status_code == 302
    assert client.get("/clinician/patients").status_code == 200
    assert other.get("/clinician/patients").status_code == 302
    assert (
        real_login(app.test_client(), clinician.email, "a brand new long passphrase").status_code
        == 302
    )


def test_deactivation_ends_sessions(app, client, admin, patient):
    victim = app.test_client()
    login_as(victim, patient)
    assert victim.get("/today").status_code == 200
    login_as(client, admin)
    client.post(f"/admin/accounts/{patient.id}/deactivate")
    assert victim.get("/today").status_code == 302
    assert real_login(app.test_client(), patient.email).status_code == 200


def test_idle_timeout(client, clinician):
    """A7: 29 minutes idle is fine; 31 minutes leads to the login page with `next`."""
    with time_machine.travel(datetime(2026, 5, 1, 9, 0, tzinfo=UTC), tick=False) as clock:
        login_as(client, clinician)
        clock.shift(timedelta(minutes=29))
        assert client.get("/clinician/patients").status_code == 200
        clock.shift(timedelta(minutes=31))
        response = client.get("/clinician/patients")
        assert response.status_code == 302
        assert response.headers["Location"] == "/login?next=/clinician/patients"


def test_absolute_limit_despite_activity(client, clinician):
    with time_machine.travel(datetime(2026, 5, 1, 8, 0, tzinfo=UTC), tick=False) as clock:
        login_as(client, clinician)
        for _ in range(36):  # a request every 20 minutes for 12 hours
            clock.shift(timedelta(minutes=20))
            assert client.get("/clinician/patients").status_code == 200
        clock.shift(timedelta(minutes=20))
        assert client.get("/clinician/patients").status_code == 302


def test_cookie_flags_in_development(client, clinician):
    """A8: HttpOnly and SameSite always."""
    response = real_login(client, clinician.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_cookie_flags_and_hsts_in_production(monkeypatch, database_url, app):
    from taper import create_app

    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TWO_STEP_KEYS", "mXgO1lmUvBmWmpCtt9DgIeQJYcG5GxrKvz7ZUbNXPQs=")
    monkeypatch.setenv("PUBLIC_URL", "https://taper.example.org")
    prod = create_app(config_name="production")
    client = prod.test_client()
    with client.session_transaction() as session:
        session["x"] = 1
    response = client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


OPEN_REDIRECTS = [
    "//evil.com",
    "/\\evil.com",
    "https://evil.com",
    "\\\\evil.com",
    "javascript:alert(1)",
    "///evil.com",
    "/%5Cevil.com",
    "http:/evil.com",
    " //evil.com",
    "/\tevil.com",
    "//evil.com/%2F..",
    "https:evil.com",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_next_never_leaves_the_site(client, clinician, target):
    """C5."""
    response = real_login(client, clinician.email, query_string={"next": target})
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert not parts.scheme
    assert not parts.netloc
    assert location.startswith("/")
    assert not location.startswith("//")
    assert "evil.com" not in location or location.startswith("/%5C")


def test_local_next_is_honoured(client, clinician):
    response = real_login(client, clinician.email, query_string={"next": "/clinician/alerts"})
    assert response.headers["Location"] == "/clinician/alerts"


@pytest.mark.parametrize(
    ("new", "accepted"),
    [
        ("a" * 11, False),
        ("twelve chars", True),
        ("otter lantern quietly folds" + "!" * 101, True),
        ("x" * 128, False),
        ("x" * 129, False),
        ("q1w2e3r4t5y6", False),
        ("Q1W2E3R4T5Y6", False),
    ],
)
def test_password_policy(app, client, clinician, new, accepted):
    """A2: 12 to 128 characters, no composition rules, common or weak passwords refused
    (more in test_password_strength.py)."""
    login_as(client, clinician)
    response = client.post(
        "/password", data={"current_password": PASSWORD, "password": new, "confirm": new}
    )
    assert (response.status_code == 302) == accepted
    with app.app_context():
        changed = db.session.get(User, clinician.id).password_hash != clinician.password_hash
    assert changed == accepted
    if not accepted:
        assert 'id="password-error"' in response.get_data(as_text=True)


def test_password_equal_to_email_and_mismatched_confirmation(client, clinician):
    login_as(client, clinician)
    same = client.post(
        "/password",
        data={
            "current_password": PASSWORD,
            "password": clinician.email,
            "confirm": clinician.email,
        },
    )
    assert "too common: it is your email address" in same.get_data(as_text=True)
    mismatch = client.post(
        "/password",
        data={
            "current_password": PASSWORD,
            "password": "a long enough phrase",
            "confirm": "a different phrase!!",
        },
    )
    assert "not the same" in mismatch.get_data(as_text=True)
    wrong = client.post(
        "/password",
        data={
            "current_password": "nope nope nope",
            "password": "a long enough phrase",
            "confirm": "a long enough phrase",
        },
    )
    assert "not your current password" in wrong.get_data(as_text=True)


def new_patient_link(client, clinician) -> str:
    login_as(client, clinician)
    page = client.post(
        "/clinician/patients/new",
        data={"name": "Link Person", "email": "link@example.org", "timezone": "UTC"},
    ).get_data(as_text=True)
    link = re.search(r'value="(http://localhost/set-password/[^"]+)"', page).group(1)
    return urlsplit(link).path


def test_set_password_link_works_once(app, client, clinician):
    path = new_patient_link(client, clinician)
    fresh = app.test_client()
    assert fresh.get(path).status_code == 200
    response = fresh.post(
        path, data={"password": "my own long phrase", "confirm": "my own long phrase"}
    )
    assert response.headers["Location"] == "/"
    assert fresh.get("/today").status_code == 200
    again = app.test_client().post(
        path, data={"password": "another long phrase", "confirm": "another long phrase"}
    )
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)


def test_tampered_and_expired_links_are_refused(app, client, clinician):
    path = new_patient_link(client, clinician)
    assert app.test_client().get(path[:-3] + "abc").status_code == 400
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=73)):
        expired = app.test_client().get(path)
    assert expired.status_code == 400
    assert "expired" in expired.get_data(as_text=True)


def test_failed_login_is_logged_without_secrets(client, clinician, caplog):
    """D4: a security event, with no password, email or health data."""
    with caplog.at_level(logging.INFO, logger="taper"):
        real_login(client, clinician.email, "Secret-Password-123\nINJECTED")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "login failed" in text
    assert "Secret-Password" not in text
    assert clinician.email not in text
    assert "INJECTED" not in text


def test_inline_password_takes_only_the_right_one(app, client, clinician, patient, write_plan):
    """A9: once the password was typed long ago, a schedule change asks for it inline; a
    wrong one is refused beside the field and changes nothing, the right one goes through.
    (The login, where a next page is taken, stays on this site: test_next_never_leaves_the_site.)"""
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(date(2026, 3, 2)))
    with client.session_transaction() as session:
        session["auth_at"] = 0
    version = version_of(app, plan_id)
    data = plan_form(six_steps(date(2026, 3, 2)), reason="Checked", version=version)
    url = f"/clinician/plans/{plan_id}/edit"
    bad = client.post(url, data={**data, "password": "wrong password value"})
    assert "That is not your password." in field_error(bad.get_data(as_text=True), "password")
    assert version_of(app, plan_id) == version
    good = client.post(url, data={**data, "password": PASSWORD})
    assert good.status_code == 302
    assert version_of(app, plan_id) == version + 1
