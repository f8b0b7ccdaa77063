"""A1: two-step login for clinicians and admins; a password alone reaches nothing; codes once."""

import re
import threading
import time

import pyotp
import pytest

from taper.extensions import db
from taper.models import Role, TwoFactor, User
from taper.services import twofactor
from tests.conftest import PASSWORD, PASSWORD_HASH, login_as, real_login
from tests.helpers import previous_step_code


def turn_on(client, user) -> tuple[str, list[str]]:
    """Go through the set-up page; return the secret and the recovery codes."""
    login_as(client, user)
    page = client.get("/account/two-step").get_data(as_text=True)
    secret = re.search(r'<code class="secret">(\w+)</code>', page).group(1)
    qr = client.get("/account/two-step/qr.svg")
    assert qr.headers["Content-Type"] == "image/svg+xml"
    assert b"<svg" in qr.data
    code = previous_step_code(secret)
    page = client.post("/account/two-step", data={"code": code}).get_data(as_text=True)
    codes = re.findall(r"<li><code>([0-9a-z-]+)</code></li>", page)
    assert len(codes) == 10
    client.post("/logout")
    return secret, codes


def test_password_without_code_reaches_no_clinical_page(app, client, clinician, patient):
    secret, _ = turn_on(client, clinician)
    fresh = app.test_client()
    response = real_login(fresh, clinician.email)
    assert response.headers["Location"] == "/login/code"
    for url in ("/clinician/patients", f"/clinician/patients/{patient.id}", "/clinician/alerts"):
        assert fresh.get(url).headers["Location"].startswith("/login")
    done = fresh.post("/login/code", data={"code": pyotp.TOTP(secret).now()})
    assert done.headers["Location"] == "/"
    assert fresh.get("/clinician/patients").status_code == 200


def test_a_code_works_only_once(app, client, clinician):
    secret, _ = turn_on(client, clinician)
    code = pyotp.TOTP(secret).now()
    first = app.test_client()
    real_login(first, clinician.email)
    assert first.post("/login/code", data={"code": code}).status_code == 302
    second = app.test_client()
    real_login(second, clinician.email)
    reused = second.post("/login/code", data={"code": code})
    assert reused.status_code == 200
    assert "Codes work once" in reused.get_data(as_text=True)


def test_recovery_code_works_once(app, client, clinician):
    _, codes = turn_on(client, clinician)
    first = app.test_client()
    real_login(first, clinician.email)
    assert first.post("/login/code", data={"code": codes[0].upper()}).status_code == 302
    second = app.test_client()
    real_login(second, clinician.email)
    assert second.post("/login/code", data={"code": codes[0]}).status_code == 200
    with app.app_context():
        assert len(db.session.get(TwoFactor, clinician.id).recovery_hashes) == 9


def test_wrong_setup_code_and_wrong_login_code(app, client, admin):
    login_as(client, admin)
    client.get("/account/two-step")
    bad = client.post("/account/two-step", data={"code": "000000"})
    assert "did not match" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(TwoFactor, admin.id) is None


def test_patients_are_not_offered_two_step(client, patient):
    login_as(client, patient)
    assert client.get("/account/two-step").status_code == 403
    assert "Two-step login" not in client.get("/today").get_data(as_text=True)


def test_code_step_expires_and_is_throttled(app, client, clinician):
    turn_on(client, clinician)
    fresh = app.test_client()
    real_login(fresh, clinician.email)
    for _ in range(5):
        assert fresh.post("/login/code", data={"code": "123456"}).status_code == 200
    assert fresh.post("/login/code", data={"code": "123456"}).status_code == 429
    other = app.test_client()
    real_login(other, clinician.email)
    with other.session_transaction() as session:
        session["2fa_since"] = time.time() - 600
    assert other.get("/login/code").headers["Location"] == "/login"


def test_turning_off_needs_password_and_code(app, client, clinician):
    secret, codes = turn_on(client, clinician)
    real_login(client, clinician.email)
    client.post("/login/code", data={"code": codes[0]})
    with app.app_context():
        db.session.get(TwoFactor, clinician.id).last_step = 0  # let the current code count
        db.session.commit()
    wrong = client.post(
        "/account/two-step/off",
        data={"password": "nope nope nope", "code": pyotp.TOTP(secret).now()},
    )
    assert wrong.status_code == 400
    ok = client.post(
        "/account/two-step/off", data={"password": PASSWORD, "code": pyotp.TOTP(secret).now()}
    )
    assert ok.status_code == 302
    with app.app_context():
        assert db.session.get(TwoFactor, clinician.id) is None


def test_service_refuses_a_second_enable_and_other_roles(app, make_user):
    with app.app_context():
        patient = db.session.merge(make_user(Role.PATIENT))
        with pytest.raises(Exception, match="clinicians and admins"):
            twofactor.enable(patient, twofactor.new_secret(), "000000")


def test_a_second_enable_that_missed_the_first_is_a_refusal_not_an_error(
    app, make_user, monkeypatch
):
    """Two set-up forms sent at once both find two-step login off; the second insert meets
    the first's row and is refused like any second enable (it was a 500)."""
    now = 1_800_000_015.0
    with app.app_context():
        clinician = db.session.merge(make_user(Role.CLINICIAN))
        secret = twofactor.new_secret()
        code = pyotp.TOTP(secret).generate_otp(int(now // 30))
        twofactor.enable(clinician, secret, code, now)
        db.session.commit()
        monkeypatch.setattr(twofactor, "settings_of", lambda user: None)  # the race, lost
        with pytest.raises(twofactor.ServiceError, match="already on"):
            twofactor.enable(clinician, secret, code, now)
        db.session.rollback()
        assert len(db.session.scalars(db.select(TwoFactor)).all()) == 1


def test_a_code_one_step_either_side_is_taken_and_no_further(app, make_user):
    """Clock drift: at a fixed time, the codes of the step before, this step and the step
    after are taken; two steps away they are refused; and a code never works for a step at
    or before the last one spent."""
    now = 1_800_000_015.0  # mid-step: no boundary near
    step = int(now // 30)
    with app.app_context():
        clinician = db.session.merge(make_user(Role.CLINICIAN))
        secret = twofactor.new_secret()
        code = pyotp.TOTP(secret).generate_otp
        twofactor.enable(clinician, secret, code(step - 1), now)
        db.session.commit()
        for far in (step - 2, step + 2):
            assert not twofactor.verify(clinician, code(far), now)
        assert not twofactor.verify(clinician, code(step - 1), now)  # spent at set-up
        assert twofactor.verify(clinician, code(step), now)
        assert not twofactor.verify(clinician, code(step), now)  # once only
        assert twofactor.verify(clinician, code(step + 1), now)  # the phone's clock ahead
        assert not twofactor.verify(clinician, code(step + 1), now + 30)
        assert twofactor.verify(clinician, code(step + 2), now + 30)  # a step on
        db.session.commit()
        assert db.session.get(TwoFactor, clinician.id).last_step == step + 2


def test_wrong_codes_sent_at_once_are_each_counted_before_they_are_checked(shared_app):
    """Someone holding the password sends 30 codes at the same instant: only the limit's worth
    are checked, the rest get 429 (a count made after each response let all of them through)."""
    from taper.services import accounts

    app = shared_app
    with app.app_context():
        user = accounts.create_user(
            None, email="doc@race.example.org", name="Doc", role=Role.CLINICIAN
        )
        user.password_hash = PASSWORD_HASH
        secret = twofactor.new_secret()
        twofactor.enable(user, secret, previous_step_code(secret))
        db.session.commit()
    first = app.test_client()
    assert real_login(first, "doc@race.example.org").headers["Location"] == "/login/code"
    cookie = first.get_cookie("taper_session").value
    barrier = threading.Barrier(30, timeout=20)
    statuses = []

    def guess(n: int) -> None:
        browser = app.test_client()
        browser.set_cookie("taper_session", cookie)
        barrier.wait()
        statuses.append(browser.post("/login/code", data={"code": f"{100000 + n:06d}"}).status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200] * 5 + [429] * 25


def test_the_owner_logging_out_gives_no_fresh_code_tries(app, client, clinician):
    """The count is the account's, not its session version's: the owner's logout (which ends
    every session) does not reset it for someone trying codes with the password."""
    turn_on(client, clinician)
    attacker = app.test_client()
    statuses = []
    for _ in range(3):
        real_login(attacker, clinician.email)
        statuses += [attacker.post("/login/code", data={"code": "123456"}).status_code]
        statuses += [attacker.post("/login/code", data={"code": "123457"}).status_code]
        with app.app_context():
            owner = db.session.get(User, clinician.id)  # its session version as it is now
            db.session.expunge(owner)
        login_as(client, owner)
        client.post("/logout")
    with app.app_context():
        assert db.session.get(User, clinician.id).session_version == owner.session_version + 1
    assert statuses == [200] * 5 + [429]


def test_a_right_code_resets_the_count_so_many_sign_ins_are_never_held_up(app, client, clinician):
    """Six sign-ins in a quarter of an hour (several devices; here with recovery codes, which
    take the same step): each right code resets the account's count, as the right password
    does, so none is held up; wrong codes after them count afresh."""
    _, codes = turn_on(client, clinician)
    statuses = []
    for code in codes[:6]:
        browser = app.test_client()
        real_login(browser, clinician.email)
        statuses.append(browser.post("/login/code", data={"code": code}).status_code)
    assert statuses == [302] * 6
    browser = app.test_client()
    real_login(browser, clinician.email)
    wrong = [browser.post("/login/code", data={"code": "123456"}).status_code for _ in range(6)]
    assert wrong == [200] * 5 + [429]
