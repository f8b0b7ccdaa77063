"""Two-step login pages: the code at login, and turning it on or off (SECURITY.md A1, D7);
``flask twostep`` for its keys."""

from __future__ import annotations

import time

import click
from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.cli import AppGroup
from flask_login import current_user
from limits import parse

from taper.auth import bp, throttle
from taper.auth.forms import CodeForm, DisableForm, RenewForm
from taper.auth.views import home_url, safe_next, slowed_down
from taper.extensions import limiter
from taper.models import User
from taper.services import ServiceError, accounts, twofactor
from taper.web import load_user, start_session

PENDING_SECONDS = 300


def _enabled_context(settings, disable_form=None, renew_form=None) -> dict:
    """What the page of someone with two-step login on shows: its two forms, each with its
    own ids, and what is left of their recovery codes."""
    return {
        "enabled": True,
        "disable_form": disable_form or DisableForm(),
        "renew_form": renew_form or RenewForm(prefix="renew"),
        "left": len(settings.recovery_hashes),
        "older": twofactor.older_recovery_codes(settings),
    }


def _enabled_page(settings, disable_form=None, renew_form=None, status=200):
    """The page of someone with two-step login on."""
    return render_template(
        "auth/two_step.html", **_enabled_context(settings, disable_form, renew_form)
    ), status


def _pending_user() -> User | None:
    identity = session.get("2fa_user")
    if not identity or time.time() - session.get("2fa_since", 0) > PENDING_SECONDS:
        return None
    return load_user(identity)


def _pending_key() -> str:
    """The account, not its session version: a logout or a password change by the owner
    must not give someone holding the password a fresh set of tries."""
    return "2fa:" + str(session.get("2fa_user", "none")).partition(":")[0]


CODE_SCOPE = "login-2fa"


def _forget_code_tries(key: str) -> None:
    """A right code resets the account's count, as the right password does (throttle.py):
    signing in from several devices in a quarter of an hour is never held up."""
    # The bucket's name as Flask-Limiter (pinned) builds it: [its key prefix, key, scope]. Its
    # prefix is the one it keeps (the first app's RATELIMIT_KEY_PREFIX in this process).
    prefix = getattr(limiter, "_key_prefix", "") or ""
    identifiers = [part for part in (prefix, key, CODE_SCOPE) if part]
    limiter.limiter.clear(parse(current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]), *identifiers)


# Every code sent counts, before it is checked (a count made after the response, for failures
# only, let requests sent at the same moment all pass the test before any was counted).
# (A shared limit: its bucket is the scope itself, which _forget_code_tries names.)
@bp.route("/login/code", methods=["GET", "POST"])
@limiter.shared_limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    scope=CODE_SCOPE,
    key_func=_pending_key,
    methods=["POST"],
)
def login_code():
    """The second step of a login: a code from the authenticator app, used once."""
    user = _pending_user()
    if user is None:
        session.pop("2fa_user", None)
        flash("Please log in again.")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        next_url = safe_next(session.get("2fa_next"))  # read before the session starts anew
        if twofactor.spend_login_code(user, form.code.data):
            _forget_code_tries(_pending_key())
            start_session(user)
            accounts.log_in(user, two_step=True)
            return redirect(next_url or home_url())
        form.code.errors.append("That code did not work. Codes work once; wait for the next.")
    return render_template("auth/login_code.html", form=form)


def _new_setup(user: User, form: CodeForm) -> str:
    """A new secret to set up; a post made against one that expired says so beside the code."""
    secret = twofactor.begin_setup(user)
    if request.method == "POST":
        form.validate_on_submit()  # keep what was typed beside the message
        form.code.errors.append(
            "This set-up has expired, so here is a new QR code. "
            "Scan it and enter the code your app shows."
        )
    return secret


@bp.route("/account/two-step", methods=["GET", "POST"])
def two_step():
    """Turn on two-step login: scan the QR code, type a code, keep the recovery codes."""
    user = current_user._get_current_object()
    if user.role not in twofactor.ALLOWED_ROLES:
        abort(403)
    settings = twofactor.settings_of(user)
    if settings is not None:
        return _enabled_page(settings)
    session.pop("2fa_setup", None)  # where earlier versions kept the secret: readable there
    form = CodeForm()
    # The secret being set up stays on the server, encrypted; a new one for each visit.
    secret = None if request.method == "GET" else twofactor.pending_secret(user)
    if secret is None:
        secret = _new_setup(user, form)
    elif form.validate_on_submit():
        try:
            codes = twofactor.turn_on(user, secret, form.code.data)
        except ServiceError as error:
            form.code.errors.append(error.message)
        else:
            return render_template("auth/recovery_codes.html", codes=codes)
    return render_template("auth/two_step.html", enabled=False, form=form, secret=secret)


@bp.get("/account/two-step/qr.svg")
def two_step_qr():
    """The QR code for the secret being set up (drawn here: no third-party service)."""
    user = current_user._get_current_object()
    secret = twofactor.pending_secret(user) if user.role in twofactor.ALLOWED_ROLES else None
    if secret is None:
        abort(404)
    return twofactor.qr_svg(user, secret), 200, {"Content-Type": "image/svg+xml"}


def _with_password(form, change, form_name: str):
    """A post of one of the forms of someone with two-step login on (else 404): run its
    change, which needs the password and a code, throttled like login (throttle.py). Return
    (the user, the change's result, None) or (the user, None, the page to answer with)."""
    user = _enabled_user()
    if not form.validate_on_submit():
        page = _enabled_page(twofactor.settings_of(user), status=400, **{form_name: form})
        return user, None, page
    typed = form.password.data, form.code.data
    result, error, wait = throttle.checked(user.email, lambda: change(user, *typed))
    if wait:
        context = _enabled_context(twofactor.settings_of(user), **{form_name: form})
        return user, None, slowed_down(form, form.password, "auth/two_step.html", wait, **context)
    if error is not None:
        getattr(form, error.field or "code").errors.append(error.message)
        page = _enabled_page(twofactor.settings_of(user), status=400, **{form_name: form})
        return user, None, page
    return user, result, None


def _enabled_user():
    """The signed-in user, whose two-step login must be on (else 404)."""
    user = current_user._get_current_object()
    if twofactor.settings_of(user) is None:
        abort(404)
    return user


@bp.post("/account/two-step/off")
def two_step_off():
    """Turn two-step login off (password and a current code)."""
    user, _, refused = _with_password(DisableForm(), twofactor.turn_off, "disable_form")
    if refused:
        return refused
    start_session(user)
    flash("Two-step login is off.")
    return redirect(url_for("auth.two_step"))


@bp.post("/account/two-step/recovery-codes")
def two_step_recovery_codes():
    """New recovery codes in place of the old ones (password and a current code)."""
    form = RenewForm(prefix="renew")
    _, codes, refused = _with_password(form, twofactor.replace_recovery_codes, "renew_form")
    if refused:
        return refused
    return render_template("auth/recovery_codes.html", codes=codes, renewed=True)


twostep_cli = AppGroup("twostep", help="Two-step login: the keys its secrets are encrypted with.")


@twostep_cli.command("new-key")
def new_key_command() -> None:
    """Print a new key to put first in TWO_STEP_KEYS."""
    click.echo(twofactor.new_key())


@twostep_cli.command("rotate-keys")
def rotate_keys_command() -> None:
    """Re-encrypt every two-step secret with the first key in TWO_STEP_KEYS."""
    try:
        count = twofactor.rotate_keys()
    except (RuntimeError, ValueError) as error:  # a secret no key opens; a malformed key
        raise click.ClickException(str(error)) from error
    click.echo(
        f"Re-encrypted {count} two-step secret(s) with the first key; "
        "the other keys in TWO_STEP_KEYS can now be removed."
    )
