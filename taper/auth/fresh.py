"""Recent authentication before sensitive changes (SECURITY.md A9).

A schedule change needs a password typed within REAUTH_WINDOW. The plan forms ask for it
inline, so a clinician whose window has passed types it once and loses nothing they typed.
"""

from __future__ import annotations

import time

from flask import current_app, session
from flask_login import current_user

from taper.auth import throttle
from taper.services import ServiceError
from taper.services.passwords import verify_password


def is_recent() -> bool:
    """Was the password typed within the re-authentication window?"""
    window = current_app.config["REAUTH_WINDOW"].total_seconds()
    return time.time() - session.get("auth_at", 0) <= window


def _check_password(typed: str) -> None:
    if not verify_password(current_user.password_hash, typed):
        raise ServiceError("That is not your password.", "password")


def confirm(form) -> bool:
    """Accept the form's password field if the session is not recent; record the error if wrong."""
    if is_recent():
        return True
    if form.password.data:
        # Wrong passwords here slow the account down like at login (SECURITY.md A4).
        typed = form.password.data
        _, error, wait = throttle.checked(current_user.email, lambda: _check_password(typed))
        if wait:
            form.password.errors = [throttle.wait_message(wait)]
            return False
        if error is None:
            session["auth_at"] = time.time()
            return True
    form.password.errors = [
        "Type your password to confirm this change."
        if not form.password.data
        else "That is not your password."
    ]
    return False
