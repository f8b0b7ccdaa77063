"""Red flags Taper could not store yet, kept on the patient's device (SECURITY.md F9).

A red flag can arrive when Taper cannot store it: the session has expired, the form's CSRF
token is stale, the database is unreachable. The patient still sees the urgent-care page at
once, and the report is kept in a cookie of its own (the Flask session is cleared at login),
signed and short-lived (``PENDING_REPORT_HOURS``). It is sent as soon as it can be: right after
the patient logs in, and on any later request of theirs while the database works. A report
is only ever sent as the patient whose session sent it (or by the next patient to log in on
that device when nobody was signed in at all).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, flash, g, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from taper.domain.log_input import added_flags_submission, is_submission_id
from taper.domain.red_flags import parse_red_flags, parse_when
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import Role, User
from taper.services import ServiceError, logs
from taper.urgent import KEPT, UNSENT, urgent_page

log = logging.getLogger(__name__)

COOKIE = "taper_kept_report"
SALT = "taper.kept-red-flag-report"
MAX_KEPT = 5  # a few reports fit easily in one cookie (each is about 120 bytes)


@dataclass(frozen=True)
class KeptReport:
    """One red-flag report waiting on the device."""

    flags: tuple[str, ...]
    when: str
    submission_id: str
    sent_at: int  # when the patient sent it: seconds since the epoch, UTC
    user_id: int | None  # whose session sent it; None when nobody was signed in

    @property
    def reported_at(self) -> datetime:
        """When the patient sent it, as a UTC time."""
        return datetime.fromtimestamp(self.sent_at, UTC)

    def dump(self) -> dict:
        """The report as stored in the cookie (short keys keep the cookie small)."""
        return {
            "f": list(self.flags),
            "w": self.when,
            "s": self.submission_id,
            "t": self.sent_at,
            "u": self.user_id,
        }

    @classmethod
    def load(cls, data: object) -> KeptReport | None:
        """A report from the signed cookie, or None if anything in it is not as written."""
        if not isinstance(data, dict):
            return None
        flags, when, submission = data.get("f"), data.get("w"), data.get("s")
        sent_at, user_id = data.get("t"), data.get("u")
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            return None
        if not isinstance(when, str) or not is_submission_id(submission):
            return None
        if type(sent_at) is not int or not (user_id is None or type(user_id) is int):
            return None
        flags = parse_red_flags(flags)
        if not flags:
            return None
        return cls(flags, parse_when(when), submission, sent_at, user_id)


def _max_age() -> int:
    return int(current_app.config["PENDING_REPORT_HOURS"]) * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def kept() -> list[KeptReport]:
    """The reports kept on this device that are still valid, oldest first. A tampered,
    unreadable or expired cookie holds none (and is removed with this response)."""
    if "_kept_reports" in g:
        return list(g._kept_reports)
    raw = request.cookies.get(COOKIE)
    reports: list[KeptReport] = []
    if raw:
        try:
            data = _serializer().loads(raw, max_age=_max_age())
        except BadSignature:  # SignatureExpired included
            data = None
            log.info("kept red-flag cookie refused (expired or not ours)")
        now = time.time()
        for item in data if isinstance(data, list) else []:
            report = KeptReport.load(item)
            if report is not None and now - _max_age() <= report.sent_at <= now + 300:
                reports.append(report)
        # Anything refused or expired goes from the device with this response.
        g._kept_dirty = not isinstance(data, list) or len(reports) != len(data)
    g._kept_reports = reports
    return list(reports)


def _store(reports: list[KeptReport]) -> None:
    g._kept_reports = reports[-MAX_KEPT:]
    g._kept_dirty = True


def write_cookie(response):
    """after_request: write the kept reports back when they changed (or drop the cookie)."""
    if not g.get("_kept_dirty"):
        return response
    config = current_app.config
    options = {
        "path": "/",
        "domain": config.get("SESSION_COOKIE_DOMAIN") or None,
        "secure": config["SESSION_COOKIE_SECURE"],
        "httponly": True,
        "samesite": "Lax",
    }
    reports = g.get("_kept_reports") or []
    if reports:
        value = _serializer().dumps([r.dump() for r in reports])
        response.set_cookie(COOKIE, value, max_age=_max_age(), **options)
    else:
        response.delete_cookie(COOKIE, **options)
    return response


def session_user_id() -> int | None:
    """The user id the Flask session names (still there in an expired session, before it
    is cleared), without touching the database."""
    identity = session.get("_user_id")
    user_id = identity.partition(":")[0] if isinstance(identity, str) else ""
    return int(user_id) if user_id.isascii() and user_id.isdigit() else None


def posted_red_flags() -> tuple[tuple[str, ...], str]:
    """The red flags a POST to a patient page carries, and when they happened: ticked or
    pressed, else what its note seems to describe (the screen needs no database; there is no
    one to ask "Is that right?" now, so a note's red flags are kept as sent). None if the
    body cannot be read."""
    if request.method != "POST" or request.blueprint != "patient":
        return (), ""
    try:
        form = request.form
        flags = parse_red_flags(form.getlist("red_flags"))
    except (HTTPException, ValueError):  # a body over the limit, or not a form
        return (), ""
    if flags:
        when = parse_when(form.get("red_flags_when")) or parse_when(form.get(f"when_{flags[0]}"))
        return flags, when
    hits = logs.screen_note(form.get("note"), form.get("substances_detail")).hits
    flags = parse_red_flags(hit.key for hit in hits)
    return flags, "past" if hits and all(hit.past for hit in hits) else ""


def _same_site() -> bool:
    """The POST came from one of our own pages: the browser says so (Sec-Fetch-Site), or,
    from a browser that does not send that header, its Origin (or Referer) is this host. A
    page elsewhere must never plant a report to be sent in a patient's name."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    return urlsplit(source).netloc == request.host if source else False


def keep(flags: tuple[str, ...], when: str, user_id: int | None) -> KeptReport:
    """Keep a report on this device. The form's submission id is kept with it, so a report
    that was in fact stored is never stored twice; a form without a valid one gets a fresh
    id (one per request, so keeping the same request twice keeps it once)."""
    submission = request.form.get("submission_id", "")
    if not is_submission_id(submission):
        submission = g.setdefault("_kept_fresh_id", uuid.uuid4().hex)
    report = KeptReport(flags, when, submission, int(time.time()), user_id)
    others = [r for r in kept() if r.submission_id != submission]
    _store([*others, report])
    log.warning("red flags kept on the device user=%s", user_id)
    return report


def rescue(user_id: int | None, code: int = 200):
    """When this request carries red flags Taper cannot store now, keep them and return the
    urgent-care page; None when it carries none."""
    flags, when = posted_red_flags()
    if not flags:
        return None
    if not _same_site():
        log.warning("red flags posted from another site (or an unknown one) were not kept")
        return urgent_page(flags, sent=UNSENT, when=when, code=code)
    keep(flags, when, user_id)
    return urgent_page(flags, sent=KEPT, when=when, code=code)


def _local_time(report: KeptReport, timezone: str) -> str:
    try:
        moment = report.reported_at.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, "America"
        moment = report.reported_at
    return f"{moment.day} {moment:%B %Y at %H:%M}"


def _send(patient: User, report: KeptReport) -> bool:
    """Store one kept report as the patient's and alert the care team; False when it had
    been stored before. Database errors are the caller's to handle."""
    flags, submission = report.flags, report.submission_id
    stored = logs.flags_already_sent(submission)
    if stored:
        # Its form was stored before the response was lost, or sent again with more flags
        # ticked (Back, then Save once the session had expired): only the flags not stored
        # are left to send, as a report of their own.
        flags = tuple(key for key in flags if key not in stored)
        if not flags:
            return False
        submission = added_flags_submission(submission, flags)
    today = local_today(datetime.now(UTC), patient.timezone)
    try:
        logs.send_report(
            patient,
            flags,
            submission,
            today,
            when=report.when,
            source="kept",
            reported_at=report.reported_at,
        )
    except logs.AlreadySaved:
        return False
    except ServiceError:
        log.error("kept red-flag report refused user=%s", patient.id)
        return False
    return True


def send_kept(user: User) -> None:
    """Send the reports kept on this device that are this patient's (or nobody's). A report
    of another account stays until it expires; clinicians and admins send nothing. If the
    database fails, every report not yet stored stays kept."""
    if user.role is not Role.PATIENT:
        return
    user_id, timezone = user.id, user.timezone  # read once: a commit expires them
    reports = kept()
    # The same form sent again is this request's to store (with its log): the kept copy is
    # dropped at the next request, once it is found stored.
    in_flight = request.form.get("submission_id") if posted_red_flags() else None
    mine = [r for r in reports if r.user_id in (None, user_id) and r.submission_id != in_flight]
    if not mine:
        return
    remaining = [r for r in reports if r not in mine]
    for index, report in enumerate(mine):
        try:
            sent = _send(user, report)
        except SQLAlchemyError:
            try:
                db.session.rollback()
            except SQLAlchemyError:
                log.warning("rollback failed while sending kept reports")
            log.error("kept red-flag reports not sent yet: database unavailable")
            remaining.extend(mine[index:])
            break
        if sent:
            log.info("kept red-flag report sent user=%s", user_id)
            flash(
                f"Your urgent report from {_local_time(report, timezone)} "
                "has now been sent to your care team."
            )
    _store(sorted(remaining, key=lambda r: r.sent_at))
