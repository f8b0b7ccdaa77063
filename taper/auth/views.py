"""Log in, log out, change or set a password."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, logout_user

from taper import kept_reports
from taper.auth import bp, throttle
from taper.auth.forms import ChangePasswordForm, DetailsForm, LoginForm, SetPasswordForm
from taper.services import ServiceError, accounts, twofactor
from taper.web import start_session

log = logging.getLogger(__name__)
LOGIN_FAILED = "That email and password do not match an account. Check them and try again."


def safe_next(target: str | None) -> str | None:
    """Only a local path ("/..."): never another host, scheme, or a backslash trick."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def home_url() -> str:
    """Where a signed-in user starts: their role's first page."""
    return url_for("main.home")


def slowed_down(form, field, template: str, wait: int, **context):
    """The form again, with "wait N seconds" beside the password field (SECURITY.md A4)."""
    field.errors = [throttle.wait_message(wait)]
    page = render_template(template, form=form, **context)
    return page, 429, {"Retry-After": str(wait)}


def _authenticate(form: LoginForm):
    user = accounts.authenticate(form.email.data, form.password.data)
    if user is None:
        raise ServiceError(LOGIN_FAILED, "password")
    return user


def _password_proved(user, next_url: str | None):
    """Sign in a user whose password was right, or hand them to the two-step code page."""
    if twofactor.settings_of(user) is not None:
        # The password alone signs nobody in: the code step finishes the login.
        return begin_code_step(user, next_url)
    start_session(user)
    accounts.log_in(user)
    log.info("login ok user=%s", user.id)
    # A red flag kept on this device while it could not be sent goes now.
    kept_reports.send_kept(user)
    return redirect(next_url or home_url())


def _login_page(form: LoginForm, wait: int = 0):
    """The login form; it says so when a red flag is kept on this device, waiting to be sent."""
    waiting = bool(kept_reports.kept())
    if wait:
        return slowed_down(form, form.password, "auth/login.html", wait, report_waiting=waiting)
    return render_template("auth/login.html", form=form, report_waiting=waiting)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form and sign a user in (failed attempts slow down: throttle.py)."""
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or home_url())
    form = LoginForm()
    if form.validate_on_submit():
        user, error, wait = throttle.checked(form.email.data, lambda: _authenticate(form))
        if wait:
            return _login_page(form, wait)
        if error is None:
            return _password_proved(user, next_url)
        log.warning("login failed ip=%s", get_remote_address())
        form.password.errors = [LOGIN_FAILED]
    return _login_page(form)


@bp.post("/logout")
def logout():
    """Log out and end every session of this account."""
    accounts.log_out(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You have logged out.")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
def change_password():
    """Change your own password (ends your other sessions)."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        _, error, wait = throttle.checked(
            user.email,
            lambda: accounts.change_own_password(
                user, form.current_password.data, form.password.data
            ),
            refused_field="current_password",
        )
        if wait:
            return slowed_down(form, form.current_password, "auth/password.html", wait)
        if error is None:
            start_session(user)
            flash("Your password has been changed.")
            return redirect(home_url())
        getattr(form, error.field or "password").errors.append(error.message)
    return render_template("auth/password.html", form=form)


@bp.route("/account/details", methods=["GET", "POST"])
def details():
    """Your own details: see your name, email and time zone, and change your phone number."""
    user = current_user._get_current_object()
    form = DetailsForm()
    if not form.is_submitted():
        form.phone.data = user.phone or ""
    if form.validate_on_submit():
        try:
            changed = accounts.change_phone(user, user, form.phone.data)
        except ServiceError as error:
            form.phone.errors.append(error.message)
        else:
            flash("Your phone number is saved." if changed else "Nothing changed.")
            return redirect(url_for("auth.details"))
    status = 400 if form.is_submitted() else 200
    return render_template("auth/details.html", form=form, user=user), status


def set_password_link_page(account, token: str | None, back: str, refused: str = "", status=200):
    """The page after a set-password link was asked for: the link itself only for an account
    that never had a password (``token``); otherwise it says the link was e-mailed to the
    owner, or why none was issued (``refused``)."""
    link = url_for("auth.set_password", token=token, _external=True) if token else None
    page = render_template(
        "set_password_link.html", account=account, link=link, refused=refused, back=back
    )
    return page, status


def issue_link_page(account, back: str):
    """Issue a set-password link for someone else's account (accounts.issue_set_password_link
    decides who may, and whether it is shown or e-mailed) and say what happened."""
    try:
        token = accounts.issue_link(current_user, account)
    except accounts.LinkRefused as error:
        log.warning("set-password link refused actor=%s account=%s", current_user.id, account.id)
        return set_password_link_page(account, None, back, refused=error.message, status=403)
    return set_password_link_page(account, token, back)


def begin_code_step(user, next_url: str | None):
    """Hand a user whose password was just proved over to the two-step code page
    (auth.login_code): nobody is signed in until the code is right."""
    session.clear()
    session["2fa_user"] = user.get_id()
    session["2fa_since"] = time.time()
    session["2fa_next"] = next_url
    return redirect(url_for("auth.login_code"))


def _password_set(user):
    """After a password set from a link: the code step when two-step login is on, else
    signed in."""
    if twofactor.settings_of(user) is not None:
        response = begin_code_step(user, None)  # clears the session: flash after
        flash("Your password is set. Enter the code from your app to log in.")
        return response
    start_session(user)
    flash("Your password is set. Welcome to Taper.")
    return redirect(home_url())


@bp.route("/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    """Set a password from a one-time link (shown for a new account, e-mailed otherwise). With
    two-step login on, the code is still asked before anyone is signed in (SECURITY.md A10)."""
    if current_user.is_authenticated:
        logout_user()
        session.clear()
    try:
        accounts.user_for_set_password_token(token)
    except ServiceError as error:
        return render_template("auth/link_invalid.html", message=error.message), 400
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.set_password_from_link(token, form.password.data)
        except ServiceError as error:
            form.password.errors.append(error.message)
        else:
            return _password_set(user)
    return render_template("auth/set_password.html", form=form)
