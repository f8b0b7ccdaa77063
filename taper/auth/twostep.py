"""Two-step login pages: the code at login, and turning it on or off (SECURITY.md A1)."""

from __future__ import annotations

import time

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from taper.auth.views import bp, home_url, safe_next
from taper.extensions import db, limiter
from taper.forms import TaperForm
from taper.models import User
from taper.services import ServiceError, audit, twofactor
from taper.web import load_user, start_session

PENDING_SECONDS = 300


class CodeForm(TaperForm):
    code = StringField(
        "Code",
        [DataRequired("Enter the 6-digit code from your app."), Length(max=20)],
        description="The 6-digit code from your authenticator app, or one of your recovery codes.",
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
    submit = SubmitField("Continue")


class DisableForm(TaperForm):
    password = PasswordField("Password", [DataRequired(), Length(max=128)])
    code = StringField(
        "Code from your app",
        [DataRequired(), Length(max=20)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
    submit = SubmitField("Turn off two-step login")


def _pending_user() -> User | None:
    identity = session.get("2fa_user")
    if not identity or time.time() - session.get("2fa_since", 0) > PENDING_SECONDS:
        return None
    return load_user(identity)


def _pending_key() -> str:
    return "2fa:" + str(session.get("2fa_user", "none"))


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_pending_key,
    methods=["POST"],
    deduct_when=lambda r: r.status_code != 302,
    scope="login-2fa",
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
        if twofactor.verify(user, form.code.data):
            next_url = safe_next(session.get("2fa_next"))
            start_session(user)
            audit.record(user, "auth.login", "user", user.id, summary={"two_step": True})
            db.session.commit()
            return redirect(next_url or home_url())
        db.session.rollback()
        form.code.errors.append("That code did not work. Codes work once; wait for the next.")
    return render_template("auth/login_code.html", form=form)


@bp.route("/account/two-step", methods=["GET", "POST"])
def two_step():
    """Turn on two-step login: scan the QR code, type a code, keep the recovery codes."""
    user = current_user._get_current_object()
    if user.role not in twofactor.ALLOWED_ROLES:
        abort(403)
    settings = twofactor.settings_of(user)
    if settings is not None:
        return render_template(
            "auth/two_step.html",
            enabled=True,
            disable_form=DisableForm(),
            left=len(settings.recovery_hashes),
        )
    if "2fa_setup" not in session or request.method == "GET":
        session["2fa_setup"] = twofactor.new_secret()
    form = CodeForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            codes = twofactor.enable(user, session["2fa_setup"], form.code.data)
        except ServiceError as error:
            form.code.errors.append(error.message)
        else:
            db.session.commit()
            session.pop("2fa_setup")
            return render_template("auth/recovery_codes.html", codes=codes)
    return render_template(
        "auth/two_step.html", enabled=False, form=form, secret=session["2fa_setup"]
    )


@bp.get("/account/two-step/qr.svg")
def two_step_qr():
    """The QR code for the secret being set up (drawn here: no third-party service)."""
    user = current_user._get_current_object()
    if user.role not in twofactor.ALLOWED_ROLES or "2fa_setup" not in session:
        abort(404)
    return twofactor.qr_svg(user, session["2fa_setup"]), 200, {"Content-Type": "image/svg+xml"}


@bp.post("/account/two-step/off")
def two_step_off():
    """Turn two-step login off (password and a current code)."""
    user = current_user._get_current_object()
    form = DisableForm()
    if twofactor.settings_of(user) is None:
        abort(404)
    if form.validate_on_submit():
        try:
            twofactor.disable(user, form.password.data, form.code.data)
        except ServiceError as error:
            db.session.rollback()
            getattr(form, error.field or "code").errors.append(error.message)
        else:
            db.session.commit()
            start_session(user)
            flash("Two-step login is off.")
            return redirect(url_for("auth.two_step"))
    return render_template(
        "auth/two_step.html",
        enabled=True,
        disable_form=form,
        left=len(twofactor.settings_of(user).recovery_hashes),
    ), 400
