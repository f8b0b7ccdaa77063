"""Request-wide behaviour: who is signed in, session limits, security headers, error pages."""

from __future__ import annotations

import logging
import time

from flask import (
    Flask,
    Request,
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
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from taper import access, kept_reports
from taper.extensions import db, login_manager
from taper.models import User
from taper.templating import urgent_text

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


# The daily log and "I need help now" may carry a long pasted note: the patient gets a clear
# message beside the note, keeps every other answer, and any red flag is sent, instead of a
# bare 413. The limit must hold before anything reads the form (the CSRF check does, first).
LONG_BODY_LIMIT = 12 * 1024 * 1024
LONG_BODY_ENDPOINTS = frozenset({"patient.daily_log", "patient.help_now"})


class TaperRequest(Request):
    """A request whose body limit is larger for a POST to the daily log or "I need help
    now" (known once the URL is matched, before any hook reads the form)."""

    def _long_body(self) -> bool:
        rule = self.url_rule
        return self.method == "POST" and rule is not None and rule.endpoint in LONG_BODY_ENDPOINTS

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and self._long_body():
            return LONG_BODY_LIMIT
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    @property
    def max_form_memory_size(self) -> int | None:
        if self._max_form_memory_size is None and self._long_body():
            return LONG_BODY_LIMIT
        return super().max_form_memory_size

    @max_form_memory_size.setter
    def max_form_memory_size(self, value: int | None) -> None:
        self._max_form_memory_size = value


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


# Built once: loading the signed-in user is on every page, and SQLAlchemy then neither builds
# nor keys this statement again (``session.get`` costs about twice as much).
_USER_BY_ID = select(User).where(User.id == bindparam("id"))


@login_manager.user_loader
def load_user(identity: str) -> User | None:
    """Load the signed-in user if the cookie's session version is still current. If the
    database fails, the rest of the request is anonymous, so its error page (or urgent-care
    page) renders without asking the database again."""
    user_id, _, version = identity.partition(":")
    if not (identity.isascii() and user_id.isdigit() and version.isdigit()):
        return None
    try:
        user = db.session.execute(_USER_BY_ID, {"id": int(user_id)}).scalar_one_or_none()
    except SQLAlchemyError:
        access.treat_as_anonymous()
        raise
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
        user_id = kept_reports.session_user_id()
        logout_user()
        session.clear()
        log.info("session ended by timeout")
        # A red flag sent just now is not dropped at the login page (SECURITY.md F9).
        rescued = kept_reports.rescue(user_id)
        if rescued is not None:
            return rescued
        if access.wants_json():
            return jsonify(error="session_expired", message="Log in again."), 401
        flash("You were logged out to keep your information safe. Please log in again.")
        return redirect(url_for("auth.login", next=_local_next()))
    # The cookie is signed and sent again only when this moves (at most every 30 s, or a
    # tenth of the idle limit): a session may end up to that much early, never late.
    if idle >= min(30.0, access_limit("IDLE_TIMEOUT") / 10):
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


def _emergency_line() -> str:
    """The emergency box of the error pages, as one line of plain text."""
    config = current_app.config
    return "If you need help now: " + " ".join(
        urgent_text(config[key])
        for key in ("URGENT_EMERGENCY_TEXT", "URGENT_CRISIS_TEXT", "URGENT_DOSE_TEXT")
    )


def _plain_error(code: int):
    title, text = ERROR_TEXT.get(code, ERROR_TEXT[500])
    body = f"{title}. {text}\n\n{_emergency_line()}\n"
    return Response(body, status=code, mimetype="text/plain")


def _settle_user() -> None:
    """Before an error page: the signed-in user if the database can still say who that is,
    else anonymous for the rest of the request (error pages render with no database)."""
    try:
        current_user.is_authenticated  # noqa: B018  (loads the user once, or fails)
    except SQLAlchemyError:
        _rollback()
        access.treat_as_anonymous()


def _rollback() -> None:
    try:
        db.session.rollback()
    except SQLAlchemyError:
        log.warning("rollback failed: database unavailable")


def _plain_urgent(code: int):
    body = (
        "Get urgent help now.\n\n"
        f"{_emergency_line()}\n\n"
        "Taper could not send this to your care team yet: call them, or the number above.\n"
    )
    return Response(body, status=code, mimetype="text/plain")


def _render_safely(render, fallback):
    """Render an error or urgent-care page; if that fails (the database went away while it
    read the user), once more as anonymous, and at worst return ``fallback()``: plain text."""
    for attempt in range(2):
        try:
            return render()
        except Exception:  # noqa: BLE001  (an error page must never fail)
            log.exception("error page failed to render (attempt %s)", attempt + 1)
            _rollback()
            access.treat_as_anonymous()
    return fallback()


def _error_response(code: int):
    title, text = ERROR_TEXT.get(code, ERROR_TEXT[500])
    if code >= 500:
        # A red flag that could not be stored still gets the urgent-care page, and is kept
        # on the device until it can be (SECURITY.md F9).
        user_id = kept_reports.session_user_id()
        rescued = _render_safely(
            lambda: kept_reports.rescue(user_id, code), lambda: _plain_urgent(code)
        )
        if rescued is not None:
            return rescued
    if access.wants_json():
        return jsonify(error=title.lower().replace(" ", "_"), message=text), code
    if request.url_rule is None and code == 400:
        # A refused Host header leaves no URL adapter to build the page's links with.
        return _plain_error(code)
    return _render_safely(
        lambda: (render_template("error.html", code=code, title=title, text=text), code),
        lambda: _plain_error(code),
    )


def _handle_http(error: HTTPException):
    _settle_user()
    if isinstance(error, CSRFError):
        # A stale or missing token (a form left open, a session gone): red flags are kept.
        user_id = kept_reports.session_user_id()
        rescued = _render_safely(lambda: kept_reports.rescue(user_id), lambda: _plain_urgent(200))
        if rescued is not None:
            return rescued
    return _error_response(error.code or 500)


def _handle_unexpected(error: Exception):
    _rollback()
    if isinstance(error, OperationalError):
        log.error("database unavailable: %s", type(error).__name__)
        access.treat_as_anonymous()
        return _error_response(503)
    log.exception("unhandled error on %s", request.endpoint)
    _settle_user()
    return _error_response(500)


def _send_kept_reports():
    """Red-flag reports kept on this device go to the care team as soon as their patient is
    signed in and the database works (after the login checks)."""
    if kept_reports.COOKIE not in request.cookies or request.endpoint in access.PUBLIC_ENDPOINTS:
        return
    if request.routing_exception is None and current_user.is_authenticated:
        kept_reports.send_kept(current_user._get_current_object())


def init_app(app: Flask) -> None:
    """Wire the request class, request hooks and error handlers into the app."""
    app.request_class = TaperRequest
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # our session version and limits do this job
    app.before_request(_refuse_nul_in_query)
    app.before_request(_session_limits)
    app.before_request(access.enforce_login)
    app.before_request(_send_kept_reports)
    app.after_request(_security_headers)
    app.after_request(kept_reports.write_cookie)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
