"""Request-wide behaviour: who is signed in, session limits, security headers, error pages."""

from __future__ import annotations

import logging
import time

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_user, logout_user
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from taper import access
from taper.extensions import db, login_manager
from taper.models import User

log = logging.getLogger(__name__)
MAX_ID = 2**31 - 1  # the largest id a PostgreSQL integer column holds


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: an id beyond any stored one is simply not found (404),
    never an out-of-range error from the database."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def id_arg(name: str) -> int | None:
    """A positive id from the query string, or None when absent, malformed or out of range."""
    value = request.args.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ID else None


CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"
)
ERROR_TEXT = {
    400: ("Something in that request was not right", "Go back, check the form and try again."),
    403: ("You cannot open this page", "Your account does not have access to it."),
    404: ("Page not found", "There is nothing here, or it is not yours to see."),
    405: ("That did not work", "This page cannot be used that way."),
    413: ("That was too much to send", "Make the text shorter and try again."),
    429: ("Too many tries", "Wait a few minutes, then try again."),
    500: ("Something went wrong on our side", "Nothing was saved. Please try again."),
    503: ("Taper is not available just now", "Nothing was saved. Please try again in a minute."),
}


@login_manager.user_loader
def load_user(identity: str) -> User | None:
    """Load the signed-in user if the cookie's session version is still current."""
    user_id, _, version = identity.partition(":")
    if not (identity.isascii() and user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def start_session(user: User) -> None:
    """Fresh session at login: pre-login keys are dropped and the clock starts."""
    session.clear()
    login_user(user)
    now = time.time()
    session["login_at"] = session["seen_at"] = session["auth_at"] = now
    session.permanent = True


def _session_limits():
    """End sessions idle for IDLE_TIMEOUT or older than ABSOLUTE_TIMEOUT (SECURITY.md A7)."""
    if request.endpoint == "static" or "_user_id" not in session:
        return None
    now = time.time()
    idle = now - session.get("seen_at", 0)
    age = now - session.get("login_at", 0)
    if idle > access_limit("IDLE_TIMEOUT") or age > access_limit("ABSOLUTE_TIMEOUT"):
        logout_user()
        session.clear()
        log.info("session ended by timeout")
        if access.wants_json():
            return jsonify(error="session_expired", message="Log in again."), 401
        flash("You were logged out to keep your information safe. Please log in again.")
        return redirect(url_for("auth.login", next=_local_next()))
    session["seen_at"] = now
    return None


def _refuse_nul_in_query():
    """No link of ours carries a NUL character, and PostgreSQL cannot compare one.
    (Forms refuse control characters beside the field: taper.forms.TaperForm.)"""
    if any("\x00" in value for _, value in request.args.items(multi=True)):
        abort(400)


def access_limit(key: str) -> float:
    """A configured timedelta in seconds."""
    return current_app.config[key].total_seconds()


def _local_next() -> str | None:
    return request.full_path.rstrip("?") if request.method == "GET" else None


def _security_headers(response):
    """Security headers on every response, no-store on everything but static files."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    if current_app.config["HSTS"]:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response


def _error_response(code: int):
    title, text = ERROR_TEXT.get(code, ERROR_TEXT[500])
    if code >= 500 and request.method == "POST" and request.form.getlist("red_flags"):
        # A red flag that could not be stored still gets the urgent-care screen.
        return render_template("patient/urgent.html", unsent=True), code
    if access.wants_json():
        return jsonify(error=title.lower().replace(" ", "_"), message=text), code
    if request.url_rule is None and code == 400:
        # A refused Host header leaves no URL adapter to build the page's links with.
        return Response(f"{title}. {text}", status=code, mimetype="text/plain")
    return render_template("error.html", code=code, title=title, text=text), code


def _handle_http(error: HTTPException):
    return _error_response(error.code or 500)


def _handle_unexpected(error: Exception):
    db.session.rollback()
    if isinstance(error, OperationalError):
        log.error("database unavailable: %s", type(error).__name__)
        return _error_response(503)
    log.exception("unhandled error on %s", request.endpoint)
    return _error_response(500)


def init_app(app: Flask) -> None:
    """Wire request hooks and error handlers into the app."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # our session version and limits do this job
    app.before_request(_refuse_nul_in_query)
    app.before_request(_session_limits)
    app.before_request(access.enforce_login)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
