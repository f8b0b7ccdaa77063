"""D7: secrets at rest. TOTP secrets encrypted under TWO_STEP_KEYS (with rotation), never in the
session cookie; recovery codes long and under Argon2id; no public default SECRET_KEY."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

import config
from taper import create_app
from taper.extensions import db
from taper.models import AuditEvent, Role, TwoFactor, User
from taper.models.twofactor import TwoFactorSetup
from taper.models.types import utc_now
from taper.services import twofactor
from tests.conftest import PASSWORD, login_as, real_login
from tests.helpers import previous_step_code
from tests.security.test_two_step import turn_on
from tests.test_migrations import logging_left_as_it_was
from tests.tools.databases import fresh_database

OLD_KEY = "mXgO1lmUvBmWmpCtt9DgIeQJYcG5GxrKvz7ZUbNXPQs="
NEW_KEY = "4I2xQ3pQ1VnR9d1b7kzJ3m0mVwzH2sQ8tJ8xVqY6c0M="
TESTING_KEY = twofactor.derived_key("testing-secret")  # TestingConfig: no TWO_STEP_KEYS
CODE_SHAPE = re.compile(r"[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){4}")


def raw_two_factor_row(app: Flask, user: User) -> dict:
    """The stored row as the database holds it (no model in between)."""
    with app.app_context():
        row = db.session.execute(
            text("SELECT * FROM two_factor WHERE user_id = :id"), {"id": user.id}
        )
        return dict(row.mappings().one())


def stored_token(app: Flask, user: User) -> str:
    with app.app_context():
        return db.session.get(TwoFactor, user.id).encrypted_secret


def session_cookie(app: Flask, client: FlaskClient) -> dict:
    """What anyone holding the cookie can read: it is signed, not encrypted."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def log_in_again(app: Flask, client: FlaskClient, user: User) -> None:
    """``login_as`` with the account as it is now (turn_on logs out, ending the sessions)."""
    with app.app_context():
        current = db.session.get(User, user.id)
        db.session.expunge(current)
    login_as(client, current)


def signs_in_with_code(app: Flask, user: User, secret: str) -> bool:
    visitor = app.test_client()
    assert real_login(visitor, user.email).headers["Location"] == "/login/code"
    return visitor.post("/login/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302


# --- the TOTP secret in the database -------------------------------------------------------


def test_stored_secret_is_not_the_base32_secret_and_decrypts_with_the_key(app, client, clinician):
    secret, _ = turn_on(client, clinician)

    row = raw_two_factor_row(app, clinician)
    assert not any(secret in str(value) for value in row.values())
    token = row["encrypted_secret"]
    assert Fernet(TESTING_KEY).decrypt(token.encode()).decode() == secret
    with pytest.raises(InvalidToken):
        Fernet(OLD_KEY).decrypt(token.encode())
    assert signs_in_with_code(app, clinician, secret)


@pytest.mark.app_config(TWO_STEP_KEYS=f" {NEW_KEY} , {OLD_KEY}")
def test_first_configured_key_encrypts(app, client, admin):
    secret, _ = turn_on(client, admin)

    assert Fernet(NEW_KEY).decrypt(stored_token(app, admin).encode()).decode() == secret


@pytest.mark.app_config(TWO_STEP_KEYS=OLD_KEY)
def test_rotation_old_key_second_still_works_and_can_be_dropped_after_rotate_keys(
    app, client, clinician
):
    secret, _ = turn_on(client, clinician)
    before = stored_token(app, clinician)
    assert Fernet(OLD_KEY).decrypt(before.encode()).decode() == secret

    app.config["TWO_STEP_KEYS"] = f"{NEW_KEY},{OLD_KEY}"  # a new key first, the old one second
    assert signs_in_with_code(app, clinician, secret)
    assert stored_token(app, clinician) == before  # reading re-encrypts nothing

    result = app.test_cli_runner().invoke(args=["twostep", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 two-step secret" in result.output
    after = stored_token(app, clinician)
    assert Fernet(NEW_KEY).decrypt(after.encode()).decode() == secret
    with pytest.raises(InvalidToken):
        Fernet(OLD_KEY).decrypt(after.encode())

    app.config["TWO_STEP_KEYS"] = NEW_KEY  # the old key is gone
    with app.app_context():
        db.session.execute(update(TwoFactor).values(last_step=0))  # the code of this step again
        db.session.commit()
    assert signs_in_with_code(app, clinician, secret)


@pytest.mark.app_config(TWO_STEP_KEYS=OLD_KEY)
def test_rotate_keys_with_the_old_key_already_dropped_fails_clearly_and_changes_nothing(
    app, client, clinician, admin
):
    turn_on(client, clinician)
    with app.app_context():  # a set-up left half-way is re-encrypted too
        twofactor.start_setup(db.session.get(User, admin.id))
        db.session.commit()
        tokens = sorted(db.session.scalars(select(TwoFactor.encrypted_secret)))
    app.config["TWO_STEP_KEYS"] = NEW_KEY

    result = app.test_cli_runner().invoke(args=["twostep", "rotate-keys"])

    assert result.exit_code == 1
    assert "cannot be decrypted with any key in TWO_STEP_KEYS" in result.output
    with app.app_context():
        assert sorted(db.session.scalars(select(TwoFactor.encrypted_secret))) == tokens

    app.config["TWO_STEP_KEYS"] = f"{NEW_KEY},{OLD_KEY}"
    result = app.test_cli_runner().invoke(args=["twostep", "rotate-keys"])
    assert "Re-encrypted 2 two-step secret" in result.output
    with app.app_context():
        pending = db.session.get(TwoFactorSetup, admin.id).encrypted_secret
        assert Fernet(NEW_KEY).decrypt(pending.encode())


def test_new_key_command_prints_a_fernet_key(app):
    result = app.test_cli_runner().invoke(args=["twostep", "new-key"])

    assert result.exit_code == 0
    Fernet(result.output.strip())  # raises if it is not a key


# --- enrolment keeps the secret on the server ----------------------------------------------


def test_no_totp_secret_in_the_session_cookie_during_enrolment(app, client, clinician):
    login_as(client, clinician)
    with client.session_transaction() as session:
        session["2fa_setup"] = "JBSWY3DPEHPK3PXP"  # where an earlier version kept it

    page = client.get("/account/two-step").get_data(as_text=True)
    secret = re.search(r'<code class="secret">(\w+)</code>', page).group(1)
    cookie = session_cookie(app, client)
    assert "2fa_setup" not in cookie
    assert secret not in repr(cookie)
    assert client.get("/account/two-step/qr.svg").status_code == 200

    wrong = client.post("/account/two-step", data={"code": "000000"})
    assert "did not match" in wrong.get_data(as_text=True)
    assert secret in wrong.get_data(as_text=True)  # the same key while the set-up is fresh
    assert secret not in repr(session_cookie(app, client))
    with app.app_context():
        pending = db.session.get(TwoFactorSetup, clinician.id).encrypted_secret
    assert secret not in pending
    assert Fernet(TESTING_KEY).decrypt(pending.encode()).decode() == secret

    code = previous_step_code(secret)
    done = client.post("/account/two-step", data={"code": code})
    assert "Two-step login is on" in done.get_data(as_text=True)
    assert secret not in repr(session_cookie(app, client))
    with app.app_context():
        assert db.session.get(TwoFactorSetup, clinician.id) is None  # confirmed: moved
    assert client.get("/account/two-step/qr.svg").status_code == 404


def test_a_stale_set_up_is_refused_and_replaced_keeping_the_typed_code(app, client, admin):
    login_as(client, admin)
    page = client.get("/account/two-step").get_data(as_text=True)
    secret = re.search(r'<code class="secret">(\w+)</code>', page).group(1)
    with app.app_context():
        pending = db.session.get(TwoFactorSetup, admin.id)
        pending.started_at = utc_now() - timedelta(minutes=twofactor.SETUP_MINUTES + 1)
        db.session.commit()
    code = pyotp.TOTP(secret).now()

    response = client.post("/account/two-step", data={"code": code})

    body = response.get_data(as_text=True)
    assert "This set-up has expired" in body
    assert f'value="{code}"' in body
    fresh = re.search(r'<code class="secret">(\w+)</code>', body).group(1)
    assert fresh != secret
    with app.app_context():
        assert db.session.get(TwoFactor, admin.id) is None


@pytest.mark.app_config(TWO_STEP_KEYS=OLD_KEY)
def test_a_set_up_under_a_removed_key_is_replaced_not_a_500(app, client, admin):
    login_as(client, admin)
    page = client.get("/account/two-step").get_data(as_text=True)
    secret = re.search(r'<code class="secret">(\w+)</code>', page).group(1)
    app.config["TWO_STEP_KEYS"] = NEW_KEY  # the old key dropped without rotate-keys

    assert client.get("/account/two-step/qr.svg").status_code == 404
    response = client.post("/account/two-step", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    assert "This set-up has expired" in response.get_data(as_text=True)
    assert client.get("/account/two-step/qr.svg").status_code == 200  # the new one

    with app.app_context():
        twofactor.start_setup(db.session.get(User, admin.id))  # once more under a key ...
        db.session.commit()
    app.config["TWO_STEP_KEYS"] = OLD_KEY  # ... that is dropped before rotation
    result = app.test_cli_runner().invoke(args=["twostep", "rotate-keys"])
    assert result.exit_code == 0
    assert "Re-encrypted 0 two-step secret" in result.output
    with app.app_context():
        assert db.session.get(TwoFactorSetup, admin.id) is None


def test_no_qr_code_without_a_set_up_in_progress(client, clinician):
    login_as(client, clinician)

    assert client.get("/account/two-step/qr.svg").status_code == 404


# --- recovery codes ------------------------------------------------------------------------


def test_recovery_codes_are_long_readable_and_stored_as_argon2id(app, client, clinician):
    _, codes = turn_on(client, clinician)

    assert len(set(codes)) == 10
    assert all(CODE_SHAPE.fullmatch(code) for code in codes)
    assert len(codes[0].replace("-", "")) * 5 >= 100  # 32 symbols: 5 bits each
    assert len({code[:4] for code in codes}) == 10  # each prefix finds one code
    row = raw_two_factor_row(app, clinician)
    stored = str(row["recovery_hashes"])
    entries = stored_entries(app, clinician)
    assert len(entries) == 10
    assert all(entry["hash"].startswith("$argon2id$") for entry in entries)
    for code in codes:
        plain = code.replace("-", "")
        assert plain not in stored
        assert plain[4:] not in stored
        assert hashlib.sha256(plain.encode()).hexdigest() not in stored


def stored_entries(app: Flask, user: User) -> list[dict]:
    with app.app_context():
        return db.session.get(TwoFactor, user.id).recovery_hashes


def test_each_recovery_code_works_once_typed_loosely(app, client, clinician):
    _, codes = turn_on(client, clinician)
    loose = " ".join(codes[1].replace("-", "").upper().replace("0", "O").replace("1", "L"))

    for code in (codes[0], loose):
        first = app.test_client()
        real_login(first, clinician.email)
        assert first.post("/login/code", data={"code": code}).status_code == 302
        again = app.test_client()
        real_login(again, clinician.email)
        refused = again.post("/login/code", data={"code": code})
        assert refused.status_code == 200
        assert "did not work" in refused.get_data(as_text=True)
    assert len(stored_entries(app, clinician)) == 8


@pytest.mark.parametrize(
    "mangle",
    [
        lambda code: code[:-1] + ("a" if code[-1] != "a" else "b"),  # right prefix, wrong rest
        lambda code: ("z" if code[0] != "z" else "y") + code[1:],  # wrong prefix
        lambda code: code[:-1],  # too short
        lambda code: code + "a",  # too long
        lambda code: code.replace(code[5], "u"),  # u is no symbol of the codes
    ],
)
def test_wrong_recovery_codes_are_refused_and_use_nothing(app, client, clinician, mangle):
    _, codes = turn_on(client, clinician)
    visitor = app.test_client()
    real_login(visitor, clinician.email)

    assert visitor.post("/login/code", data={"code": mangle(codes[3])}).status_code == 200
    assert len(stored_entries(app, clinician)) == 10


@pytest.mark.parametrize("kind", ["recovery code", "app code"])
def test_one_code_sent_five_times_at_once_signs_in_once(shared_app, make_user, kind):
    app = shared_app
    with app.app_context():
        user = db.session.merge(make_user(Role.CLINICIAN))
        secret = twofactor.new_secret()
        codes = twofactor.enable(user, secret, previous_step_code(secret))
        db.session.commit()
    code = codes[4] if kind == "recovery code" else pyotp.TOTP(secret).now()
    clients = [app.test_client() for _ in range(5)]
    for client in clients:
        with client.session_transaction() as session:  # the password step is done
            session["2fa_user"], session["2fa_since"] = user.get_id(), time.time()
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def post(client):
        barrier.wait()
        statuses.append(client.post("/login/code", data={"code": code}).status_code)

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(statuses)[-1] == 302
    assert statuses.count(302) == 1, statuses
    assert len(stored_entries(app, user)) == (9 if kind == "recovery code" else 10)


def test_a_recovery_code_costs_one_argon2_check_not_ten(app, client, clinician, monkeypatch):
    _, codes = turn_on(client, clinician)
    checks = []
    real_verify = PasswordHasher.verify
    monkeypatch.setattr(
        PasswordHasher, "verify", lambda self, *args: checks.append(1) or real_verify(self, *args)
    )
    visitor = app.test_client()
    real_login(visitor, clinician.email)
    checks.clear()  # the password itself is an Argon2id check too

    assert visitor.post("/login/code", data={"code": codes[9]}).status_code == 302
    assert len(checks) == 1


def test_new_recovery_codes_replace_the_old_ones(app, client, clinician):
    _, old = turn_on(client, clinician)
    log_in_again(app, client, clinician)

    page = client.post(
        "/account/two-step/recovery-codes",
        data={"renew-password": PASSWORD, "renew-code": old[0]},
    )

    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Your old codes no longer work" in body
    new = re.findall(r"<li><code>([0-9a-z-]+)</code></li>", body)
    assert len(new) == 10
    assert all(CODE_SHAPE.fullmatch(code) for code in new)
    assert not set(new) & set(old)
    refused = app.test_client()
    real_login(refused, clinician.email)
    assert refused.post("/login/code", data={"code": old[1]}).status_code == 200
    accepted = app.test_client()
    real_login(accepted, clinician.email)
    assert accepted.post("/login/code", data={"code": new[1]}).status_code == 302
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor_id == clinician.id)
        ).all()
    assert "2fa.recovery_codes" in actions


@pytest.mark.parametrize(
    ("password", "code", "field", "message"),
    [
        ("not my password", "000000", "renew-password", "not your password"),
        (PASSWORD, "000000", "renew-code", "did not match"),
        (PASSWORD, "", "renew-code", "This field is required"),
    ],
)
def test_new_recovery_codes_need_the_password_and_a_code(
    app, client, clinician, password, code, field, message
):
    _, old = turn_on(client, clinician)
    log_in_again(app, client, clinician)
    before = stored_entries(app, clinician)

    page = client.post(
        "/account/two-step/recovery-codes",
        data={"renew-password": password, "renew-code": code},
    )

    assert page.status_code == 400
    body = page.get_data(as_text=True)
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', body)
    assert message in error.group(1)
    assert re.search(rf'<input [^>]*name="renew-code" [^>]*value="{code}">', body)  # kept
    assert stored_entries(app, clinician) == before


def test_older_recovery_codes_are_pointed_out(app, client, clinician):
    turn_on(client, clinician)
    with app.app_context():
        settings = db.session.get(TwoFactor, clinician.id)
        settings.recovery_hashes = [
            {**entry, "prefix": None} if n < 3 else entry
            for n, entry in enumerate(settings.recovery_hashes)
        ]
        db.session.commit()
    log_in_again(app, client, clinician)

    body = client.get("/account/two-step").get_data(as_text=True)

    assert "3 of your recovery codes are of an older, shorter kind" in body


def test_recovery_codes_use_owasps_argon2id_cost_outside_tests():
    assert config.Config.RECOVERY_CODE_HASH == {
        "time_cost": 2,
        "memory_cost": 19456,
        "parallelism": 1,
    }
    assert config.ProductionConfig.RECOVERY_CODE_HASH == config.Config.RECOVERY_CODE_HASH


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (None, "needs TWO_STEP_KEYS"),
        ("", "needs TWO_STEP_KEYS"),
        (" , ", "needs TWO_STEP_KEYS"),
        ("not-a-key", "key 1 is not a Fernet key"),
        (f"{NEW_KEY},{NEW_KEY[:-2]}", "key 2 is not a Fernet key"),
    ],
)
def test_production_refuses_to_start_without_two_step_keys(monkeypatch, keys, message):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.delenv("TWO_STEP_KEYS", raising=False)
    if keys is not None:
        monkeypatch.setenv("TWO_STEP_KEYS", keys)

    with pytest.raises(RuntimeError, match=message):
        create_app(config_name="production")


def test_production_takes_its_keys_from_the_environment_and_never_derives_one(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("TWO_STEP_KEYS", f"{NEW_KEY},{OLD_KEY}")
    monkeypatch.setenv("PUBLIC_URL", "https://taper.example.org")

    app = create_app(config_name="production")

    assert twofactor.configured_keys(app.config) == [NEW_KEY, OLD_KEY]
    app.config["TWO_STEP_KEYS"] = ""
    with pytest.raises(RuntimeError, match="TWO_STEP_KEYS is not set"):
        twofactor.configured_keys(app.config)


@pytest.fixture
def instance_key_file(monkeypatch, tmp_path) -> Path:
    """The development key file of an instance in tmp_path; no SECRET_KEY in the environment."""
    path = tmp_path / "instance" / "secret_key"
    monkeypatch.setattr(config, "SECRET_KEY_FILE", path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return path


def test_development_makes_its_own_random_secret_key_once(instance_key_file, tmp_path):
    assert not instance_key_file.exists()

    first = create_app(config_name="development").config["SECRET_KEY"]

    assert instance_key_file.exists()
    assert stat.S_IMODE(instance_key_file.stat().st_mode) == 0o600
    assert first == instance_key_file.read_text().strip()
    assert first != config.DEV_SECRET_KEY
    assert len(first) >= 64
    assert create_app(config_name="development").config["SECRET_KEY"] == first
    assert config.instance_secret_key(tmp_path / "other" / "secret_key") != first
    assert [p.name for p in instance_key_file.parent.iterdir()] == ["secret_key"]


def test_development_session_signed_with_the_old_public_default_is_refused(instance_key_file):
    app = create_app(config_name="development")
    forged = Flask("forger")
    forged.secret_key = config.DEV_SECRET_KEY
    cookie = forged.session_interface.get_signing_serializer(forged).dumps({"_user_id": "1"})

    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_development_uses_secret_key_from_the_environment_first(instance_key_file, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "e" * 40)

    assert create_app(config_name="development").config["SECRET_KEY"] == "e" * 40
    assert not instance_key_file.exists()


def test_an_empty_instance_key_file_is_refused_clearly(instance_key_file):
    instance_key_file.parent.mkdir()
    instance_key_file.write_text("\n")

    with pytest.raises(RuntimeError, match="holds no usable key"):
        create_app(config_name="development")


def test_make_run_makes_the_instance_key_once_before_serving(tmp_path):
    root = Path(__file__).resolve().parents[2]
    for name in ("Makefile", "config.py", "requirements.txt"):
        shutil.copy2(root / name, tmp_path / name)  # with its time: `make` installs nothing
    (tmp_path / ".venv").symlink_to(root / ".venv")
    make = ["make", "--no-print-directory", "-C", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}

    dry_run = subprocess.run([*make, "-n", "run"], capture_output=True, text=True, env=env)  # noqa: S603
    assert dry_run.stdout.index("instance_secret_key") < dry_run.stdout.index("db upgrade")
    subprocess.run([*make, "instance/secret_key"], check=True, capture_output=True, env=env)  # noqa: S603
    key_file = tmp_path / "instance" / "secret_key"
    key = key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = subprocess.run([*make, "instance/secret_key"], capture_output=True, text=True, env=env)  # noqa: S603
    assert "up to date" in again.stdout
    assert key_file.read_text() == key
    gitignore = (root / ".gitignore").read_text().splitlines()
    assert "instance/" in gitignore


# --- migration 0010 ------------------------------------------------------------------------

LEGACY_CODES = ["1a2b-3c4d-5e6f", "0000-ffff-1234"]


def _legacy_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").lower().encode()).hexdigest()


@pytest.mark.parametrize("keys", ["", OLD_KEY])
def test_migration_0010_encrypts_existing_secrets_and_keeps_old_recovery_codes(keys):
    from flask_migrate import downgrade, upgrade

    secret = pyotp.random_base32()
    with logging_left_as_it_was(), fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TWO_STEP_KEYS": keys})
        key = keys or TESTING_KEY
        with app.app_context():
            upgrade(revision="0009")
            with db.engine.begin() as conn:
                conn.execute(
                    text(
                        'INSERT INTO "user" (id, email, name, role, active, timezone, '
                        "session_version, created_at, updated_at) VALUES (1, 'c@x.org', 'C', "
                        "'clinician', true, 'UTC', 1, '2026-01-01', '2026-01-01')"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO two_factor (user_id, secret, last_step, recovery_hashes, "
                        "enabled_at) VALUES (1, :secret, 0, :hashes, '2026-01-01')"
                    ),
                    {
                        "secret": secret,
                        "hashes": '["' + '", "'.join(map(_legacy_hash, LEGACY_CODES)) + '"]',
                    },
                )
            upgrade()
            with db.engine.connect() as conn:
                row = conn.execute(text("SELECT * FROM two_factor")).mappings().one()
            assert secret not in str(dict(row))
            assert Fernet(key).decrypt(row["encrypted_secret"].encode()).decode() == secret
            stored = db.session.get(TwoFactor, 1).recovery_hashes
            assert [entry["prefix"] for entry in stored] == [None, None]
            assert all(entry["hash"].startswith("$argon2id$") for entry in stored)
            assert not any(_legacy_hash(code) in str(dict(row)) for code in LEGACY_CODES)

            user = db.session.get(User, 1)
            assert twofactor.verify(user, pyotp.TOTP(secret).now())
            assert twofactor.verify(user, LEGACY_CODES[1].upper())
            assert not twofactor.verify(user, LEGACY_CODES[1])
            assert not twofactor.verify(user, "9999-9999-9999")
            db.session.commit()
            assert len(db.session.get(TwoFactor, 1).recovery_hashes) == 1
            db.session.remove()

            downgrade(revision="0009")
            with db.engine.connect() as conn:
                row = conn.execute(text("SELECT * FROM two_factor")).mappings().one()
            assert row["secret"] == secret
            assert row["recovery_hashes"] in ([], "[]")
            db.engine.dispose()


def test_migration_0010_downgrade_stops_rather_than_lose_a_secret_it_cannot_decrypt(capsys):
    from flask_migrate import downgrade, upgrade

    with logging_left_as_it_was(), fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TWO_STEP_KEYS": OLD_KEY})
        with app.app_context():
            upgrade(revision="0010")  # the migration under test, whatever comes after it
            with db.engine.begin() as conn:
                conn.execute(
                    text(
                        'INSERT INTO "user" (id, email, name, role, active, timezone, '
                        "session_version, created_at, updated_at) VALUES (1, 'c@x.org', 'C', "
                        "'clinician', true, 'UTC', 1, '2026-01-01', '2026-01-01')"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO two_factor (user_id, encrypted_secret, last_step, "
                        "recovery_hashes, enabled_at, version) "
                        "VALUES (1, :token, 0, '[]', '2026-01-01', 1)"
                    ),
                    {"token": Fernet(NEW_KEY).encrypt(b"JBSWY3DPEHPK3PXP").decode()},
                )
            with pytest.raises(SystemExit):  # how flask_migrate reports a failed migration
                downgrade(revision="0009")
            assert "user 1 cannot be decrypted with the configured keys" in capsys.readouterr().err
            with db.engine.connect() as conn:
                token = conn.execute(text("SELECT encrypted_secret FROM two_factor")).scalar()
                version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert Fernet(NEW_KEY).decrypt(token.encode()) == b"JBSWY3DPEHPK3PXP"
            assert version == "0010"
            app.config["TWO_STEP_KEYS"] = f"{OLD_KEY},{NEW_KEY}"  # the key it was made with
            downgrade(revision="0009")
            with db.engine.connect() as conn:
                assert conn.execute(text("SELECT secret FROM two_factor")).scalar() == (
                    "JBSWY3DPEHPK3PXP"
                )
            db.engine.dispose()
