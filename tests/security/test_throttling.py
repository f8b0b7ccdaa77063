"""A4: wrong passwords slow an account down progressively; nobody can lock the right password
out, colleagues behind one address do not block each other, and every form that checks a
password (login, the inline confirmation on plan and timeline changes, password change, two-step
off and new recovery codes) is throttled."""

import re
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from taper.models import Role
from tests.conftest import PASSWORD, login_as, real_login
from tests.helpers import field_error, patient_today, plan_form, six_steps, version_of

WRONG = "not the password at all"
ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
CLINIC = {"REMOTE_ADDR": "198.51.100.10"}


def waited(response) -> int | None:
    """The seconds a slowed-down answer asks for, or None when the password was checked."""
    if response.status_code != 429:
        return None
    page = response.get_data(as_text=True)
    match = re.search(r"Wait (\d+) (second|seconds|minutes) and try again", page)
    assert match, page
    seconds = int(match.group(1)) * (60 if match.group(2) == "minutes" else 1)
    assert int(response.headers["Retry-After"]) <= seconds
    return seconds


def now_frozen():
    return time_machine.travel(datetime.now(UTC).replace(microsecond=0), tick=False)


def fail_with_waits(client, email, times, clock, environ=ATTACKER) -> list[int]:
    """Make `times` checked wrong guesses, waiting out each delay; the delays seen."""
    delays = []
    checked = 0
    while checked < times:
        response = real_login(client, email, WRONG, environ_base=environ)
        delay = waited(response)
        if delay is None:
            assert response.status_code == 200
            assert "do not match" in response.get_data(as_text=True)
            checked += 1
        else:
            delays.append(delay)
            clock.shift(timedelta(seconds=delay))
    return delays


def test_delay_grows_with_each_failure_up_to_the_cap(client, clinician):
    with now_frozen() as clock:
        delays = fail_with_waits(client, clinician.email, 11, clock)
    # 3 free failures, then 1 s, 2 s, 4 s ... capped at 60 s.
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]


def test_victims_right_password_works_after_the_short_wait(app, clinician):
    """The attack that locked anyone out for 15 minutes: the victim waits seconds, not minutes,
    and their right password then signs them in."""
    attacker, victim = app.test_client(), app.test_client()
    with now_frozen() as clock:
        fail_with_waits(attacker, clinician.email, 30, clock)
        refused = real_login(victim, clinician.email, environ_base=CLINIC)
        wait = waited(refused)
        assert wait is not None
        assert wait <= 60
        page = refused.get_data(as_text=True)
        assert "Too many wrong passwords" in field_error(page, "password")
        assert f'value="{clinician.email}"' in page  # nothing typed is lost
        assert "Too many tries" not in page  # the form, not the 15-minute lock-out page
        clock.shift(timedelta(seconds=wait))
        assert real_login(victim, clinician.email, environ_base=CLINIC).status_code == 302


def test_attempt_during_the_wait_is_not_checked_and_does_not_grow_the_delay(client, clinician):
    with now_frozen() as clock:
        fail_with_waits(client, clinician.email, 5, clock)  # now waiting 4 s
        for _ in range(10):  # hammering during the wait: the right password is not even tried
            assert waited(real_login(client, clinician.email, environ_base=ATTACKER)) == 4
        clock.shift(timedelta(seconds=3))
        assert waited(real_login(client, clinician.email, WRONG, environ_base=ATTACKER)) == 1
        clock.shift(timedelta(seconds=1))
        assert real_login(client, clinician.email, WRONG, environ_base=ATTACKER).status_code == 200
        assert waited(real_login(client, clinician.email, environ_base=ATTACKER)) == 8


def test_right_password_resets_the_count(client, clinician):
    with now_frozen() as clock:
        fail_with_waits(client, clinician.email, 6, clock)
        clock.shift(timedelta(seconds=60))
        assert real_login(client, clinician.email).status_code == 302
        client.post("/logout")
        for _ in range(3):  # free failures again
            assert real_login(client, clinician.email, WRONG).status_code == 200


def test_unknown_email_is_slowed_down_exactly_like_a_real_account(client, clinician):
    """A4: the answers never tell which emails have accounts."""
    with now_frozen() as clock:
        real = fail_with_waits(client, clinician.email, 8, clock)
        unknown = fail_with_waits(client, "nobody-here@example.org", 8, clock)
    assert real == unknown == [1, 2, 4, 8, 16]


def test_accounts_behind_one_address_do_not_block_each_other(app, make_user):
    """A whole clinic behind one address: 12 colleagues mistype 3 times each (36 failures from
    one address, more than the old limit of 30), and every right password still works."""
    colleagues = [make_user(Role.CLINICIAN) for _ in range(12)]
    newcomer = make_user(Role.CLINICIAN)
    client = app.test_client()
    with now_frozen() as clock:
        for user in colleagues:
            for _ in range(3):
                response = real_login(client, user.email, WRONG, environ_base=CLINIC)
                assert response.status_code == 200
        # Each account is slowed down on its own...
        assert waited(real_login(client, colleagues[0].email, WRONG, environ_base=CLINIC)) == 1
        assert real_login(client, newcomer.email, environ_base=CLINIC).status_code == 302
        client.post("/logout")
        # ...and a second later every right password works.
        clock.shift(timedelta(seconds=1))
        for user in colleagues:
            assert real_login(client, user.email, environ_base=CLINIC).status_code == 302
            client.post("/logout")


@pytest.mark.app_config(LOGIN_LIMIT_PER_IP_ACCOUNT="6 per hour")
def test_one_address_guessing_one_account_is_stopped_for_the_hour(app, clinician):
    """Per (address, account) pair: the guesser waits out the hour; the owner elsewhere only
    waits the account's short delay."""
    attacker, owner = app.test_client(), app.test_client()
    with now_frozen() as clock:
        fail_with_waits(attacker, clinician.email, 6, clock)
        clock.shift(timedelta(seconds=60))
        stopped = waited(real_login(attacker, clinician.email, WRONG, environ_base=ATTACKER))
        assert stopped > 30 * 60
        assert "minutes" in field_error(
            real_login(attacker, clinician.email, environ_base=ATTACKER).get_data(as_text=True),
            "password",
        )
        assert real_login(owner, clinician.email, environ_base=CLINIC).status_code == 302


@pytest.mark.app_config(LOGIN_LIMIT_PER_IP="8 per hour")
def test_high_ceiling_per_address_stops_spraying(app, make_user):
    """One password tried on many accounts from one address hits the per-address ceiling."""
    users = [make_user(Role.PATIENT) for _ in range(9)]
    client = app.test_client()
    for user in users[:8]:
        assert real_login(client, user.email, WRONG, environ_base=ATTACKER).status_code == 200
    assert waited(real_login(client, users[8].email, environ_base=ATTACKER)) > 30 * 60
    # Another address is not held up.
    assert real_login(client, users[8].email, environ_base=CLINIC).status_code == 302


@pytest.mark.app_config(PROXY_COUNT=1)
def test_delay_holds_against_rotating_forwarded_for_behind_a_proxy(client, clinician):
    """With a trusted proxy, the address comes from X-Forwarded-For; changing it per guess
    still meets the account's delay, which does not depend on the address."""
    with now_frozen():
        for i in range(3):
            forwarded = {"X-Forwarded-For": f"10.0.0.{i}"}
            assert real_login(client, clinician.email, WRONG, headers=forwarded).status_code == 200
        response = real_login(client, clinician.email, headers={"X-Forwarded-For": "10.9.9.9"})
    assert waited(response) == 1


@pytest.mark.app_config(PROXY_COUNT=1, LOGIN_LIMIT_PER_IP="2 per hour")
def test_per_address_counts_use_the_forwarded_client_address(app, make_user):
    """Behind the proxy the per-address ceiling is per client, not per proxy."""
    users = [make_user(Role.PATIENT) for _ in range(3)]
    client = app.test_client()
    first = {"X-Forwarded-For": "192.0.2.1"}
    for user in users[:2]:
        assert real_login(client, user.email, WRONG, headers=first).status_code == 200
    assert waited(real_login(client, users[2].email, headers=first)) is not None
    second = {"X-Forwarded-For": "192.0.2.2"}
    assert real_login(client, users[2].email, headers=second).status_code == 302


def test_parallel_guesses_cannot_slip_through_together(shared_app):
    """One attempt per account is checked at a time: 16 guesses sent at once are not all
    tried before the delay starts."""
    results: list[int | None] = []
    barrier = threading.Barrier(16)

    def guess():
        client = shared_app.test_client()
        barrier.wait()
        results.append(waited(real_login(client, "pat@example.org", WRONG, environ_base=ATTACKER)))

    with now_frozen():
        threads = [threading.Thread(target=guess) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    checked = [r for r in results if r is None]
    assert len(results) == 16
    assert 1 <= len(checked) <= 3


def go_stale(client) -> None:
    """The password was typed long ago: a schedule change must carry it again (A9)."""
    with client.session_transaction() as session:
        session["auth_at"] = time.time() - 3600


def test_inline_password_on_a_timeline_change_is_throttled(
    client, app, clinician, patient, write_plan
):
    """A9 + A4: the password a hold asks for (a timeline change, not the editor) slows down
    after three wrong ones, and the hold goes through once the wait is over."""
    with now_frozen() as clock:
        login_as(client, clinician)
        plan_id = write_plan(patient, six_steps(date(2026, 3, 2)))
        go_stale(client)
        url = f"/clinician/plans/{plan_id}/hold"
        before = version_of(app, plan_id)
        data = {"reason": "Settling", "until": "", "version": str(before), "confirm": "1"}
        data["day"] = patient_today(patient).isoformat()
        for _ in range(3):
            bad = client.post(url, data={**data, "password": WRONG})
            assert "That is not your password." in field_error(
                bad.get_data(as_text=True), "password"
            )
        slowed = client.post(url, data={**data, "password": PASSWORD})
        assert "Wait 1 second and try again" in field_error(
            slowed.get_data(as_text=True), "password"
        )
        assert version_of(app, plan_id) == before
        clock.shift(timedelta(seconds=1))
        good = client.post(url, data={**data, "password": PASSWORD})
        assert good.status_code == 302
    assert version_of(app, plan_id) == before + 1


def test_password_change_is_throttled(app, client, clinician):
    login_as(client, clinician)
    new = "otter lantern quietly folds"
    with now_frozen() as clock:
        for _ in range(3):
            wrong = client.post(
                "/password", data={"current_password": WRONG, "password": new, "confirm": new}
            )
            page = wrong.get_data(as_text=True)
            assert "not your current password" in field_error(page, "current_password")
        slowed = client.post(
            "/password", data={"current_password": PASSWORD, "password": new, "confirm": new}
        )
        assert waited(slowed) == 1
        page = slowed.get_data(as_text=True)
        assert "Wait 1 second" in field_error(page, "current_password")
        clock.shift(timedelta(seconds=1))
        changed = client.post(
            "/password", data={"current_password": PASSWORD, "password": new, "confirm": new}
        )
        assert changed.status_code == 302
    assert real_login(app.test_client(), clinician.email, new).status_code == 302


def test_failures_on_any_password_form_count_for_the_account(
    app, client, clinician, patient, write_plan
):
    """A stolen session cannot guess the password at the plan editor's inline confirmation
    without slowing down the login too (one count per account)."""
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(date(2026, 3, 2)))
    go_stale(client)
    data = plan_form(six_steps(date(2026, 3, 2)), reason="Guess", version=version_of(app, plan_id))
    with now_frozen():
        for _ in range(3):
            client.post(f"/clinician/plans/{plan_id}/edit", data={**data, "password": WRONG})
        assert waited(real_login(app.test_client(), clinician.email)) == 1


def test_inline_password_on_a_schedule_change_is_throttled(
    client, app, clinician, patient, write_plan
):
    """A9 + A4: the plan editor's inline confirmation slows down too, and keeps the typing."""
    start = date(2026, 3, 2)
    with now_frozen() as clock:
        login_as(client, clinician)
        plan_id = write_plan(patient, six_steps(start))
        with client.session_transaction() as session:
            session["auth_at"] = time.time() - 3600
        steps = six_steps(start)
        steps[0] = (steps[0][0], "20", {}, "Typed while slowed")
        before = version_of(app, plan_id)
        data = plan_form(steps, reason="Throttled", version=before)
        url = f"/clinician/plans/{plan_id}/edit"
        for _ in range(3):
            page = client.post(url, data={**data, "password": WRONG}).get_data(as_text=True)
            assert "That is not your password." in page
        slowed = client.post(url, data={**data, "password": PASSWORD})
        page = slowed.get_data(as_text=True)
        assert "Wait 1 second and try again" in field_error(page, "password")
        assert "Typed while slowed" in page
        assert version_of(app, plan_id) == before
        clock.shift(timedelta(seconds=1))
        assert client.post(url, data={**data, "password": PASSWORD}).status_code == 302
    assert version_of(app, plan_id) == before + 1


@pytest.mark.parametrize(
    ("url", "prefix"),
    [("/account/two-step/off", ""), ("/account/two-step/recovery-codes", "renew-")],
)
def test_two_step_forms_that_ask_the_password_are_throttled(app, client, clinician, url, prefix):
    """Turning two-step off and making new recovery codes check the password too: a stolen
    session cannot guess it there faster than at the login."""
    from taper.extensions import db
    from taper.models import User
    from tests.security.test_two_step import turn_on

    turn_on(client, clinician)  # logs out, which ends the sessions of the old session version
    with app.app_context():
        login_as(client, db.session.get(User, clinician.id))
    with now_frozen():
        for _ in range(3):
            wrong = client.post(url, data={f"{prefix}password": WRONG, f"{prefix}code": "123456"})
            page = wrong.get_data(as_text=True)
            assert "That is not your password." in field_error(page, f"{prefix}password")
        slowed = client.post(url, data={f"{prefix}password": PASSWORD, f"{prefix}code": "1"})
        assert waited(slowed) == 1
        assert "Wait 1 second" in field_error(slowed.get_data(as_text=True), f"{prefix}password")
        assert waited(real_login(app.test_client(), clinician.email)) == 1


def test_a_device_that_signed_in_before_is_never_held_up_by_guesses_from_elsewhere(app, clinician):
    """Guesses from many addresses could keep an account waiting all day; the owner's own
    devices (signed in before: the taper_device cookie) still get in at once."""
    owner = app.test_client()
    assert real_login(owner, clinician.email, environ_base=CLINIC).status_code == 302
    cookie = owner.get_cookie("taper_device")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    owner.post("/logout")
    with now_frozen() as clock:
        for n in range(8):  # eight addresses, each well under its own hourly limit
            attacker = app.test_client()
            fail_with_waits(attacker, clinician.email, 4, clock, {"REMOTE_ADDR": f"203.0.113.{n}"})
        new_device = app.test_client()
        assert waited(real_login(new_device, clinician.email, environ_base=CLINIC)) is not None
        assert real_login(owner, clinician.email, environ_base=CLINIC).status_code == 302


def test_a_trusted_devices_own_wrong_passwords_still_slow_it_down(app, clinician):
    owner = app.test_client()
    assert real_login(owner, clinician.email, environ_base=CLINIC).status_code == 302
    owner.post("/logout")
    with now_frozen() as clock:
        delays = fail_with_waits(owner, clinician.email, 5, clock, CLINIC)
        assert delays == [1, 2]
        # The device's failures are its own: another device is not slowed down by them.
        assert real_login(app.test_client(), clinician.email, WRONG).status_code == 200


@pytest.mark.parametrize("value", ["forged", "eyJkIjoiMSIsImEiOltdfQ.bad.sig"])
def test_a_forged_device_cookie_trusts_nothing(app, clinician, value):
    with now_frozen() as clock:
        fail_with_waits(app.test_client(), clinician.email, 3, clock)
        device = app.test_client()
        device.set_cookie("taper_device", value)
        assert waited(real_login(device, clinician.email, environ_base=CLINIC)) == 1
