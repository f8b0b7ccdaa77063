"""Log in, log out, change or set a password."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, logout_user

from taper import access, kept_reports
from taper.auth import bp, throttle
from taper.auth.forms import (
    ChangePasswordForm,
    DetailsForm,
    LoginForm,
    ReminderForm,
    SetPasswordForm,
)
from taper.models import Role
from taper.services import ServiceError, accounts, reminders, twofactor
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


def _reminder_form(user) -> ReminderForm | None:
    """A patient's reminder form filled from what is stored (None for other roles)."""
    if user.role is not Role.PATIENT:
        return None
    choice = reminders.choice_of(user)
    return ReminderForm(
        formdata=None,
        prefix="reminder",
        on="on" if choice.on else "off",
        at=choice.at.strftime("%H:%M"),
    )


def _details_page(form: DetailsForm, reminder: ReminderForm | None, status: int = 200):
    user = current_user._get_current_object()
    if reminder is not None and reminder.at.errors:
        # A refused time is shown as typed, in a text box: a time box cannot hold "8pm".
        reminder.at.render_kw = {"type": "text"}
    page = render_template("auth/details.html", form=form, reminder=reminder, user=user)
    return page, status


@bp.route("/account/details", methods=["GET", "POST"])
def details():
    """Your own details: see your name, email and time zone, and change your phone number
    (a patient also sets their daily reminder here: auth.reminder)."""
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
    return _details_page(form, _reminder_form(user), status)


def _reminder_saved(user, changed: bool) -> str:
    if not changed:
        return "Nothing changed."
    if not user.reminder_on:
        return "Your reminder is off: Taper will not e-mail you reminders."
    return (
        f"Your reminder is on: an e-mail at {user.reminder_at:%H:%M} your time, on days you "
        "have not filled in your check-in yet."
    )


@bp.post("/account/reminder")
def reminder():
    """A patient turns their daily reminder e-mail on or off and picks its time (the form is
    on My details; only patients have it)."""
    access.require_role(Role.PATIENT)
    user = current_user._get_current_object()
    form = ReminderForm(prefix="reminder")
    if form.validate_on_submit():
        try:
            changed = reminders.change_reminder(user, user, form.on.data, form.at.data)
        except ServiceError as error:
            getattr(form, error.field or "on").errors.append(error.message)
        else:
            flash(_reminder_saved(user, changed))
            return redirect(url_for("auth.details"))
    return _details_page(DetailsForm(formdata=None, phone=user.phone or ""), form, 400)


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
