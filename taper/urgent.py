"""The urgent-care page: what to do now, what to tell whoever answers, and whether the care
team was told. It renders with no database at all (a report kept on the device while Taper's
database is down), so everything it reads from the database is optional."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from flask import render_template
from sqlalchemy.exc import SQLAlchemyError

from taper.domain.red_flags import RED_FLAGS, WHEN
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.services import logs, plans

log = logging.getLogger(__name__)

# Whether the care team was told: "sent"; "kept" (signed, on this device, sent at the next
# chance); "unsent" (could not be kept either: call them).
SENT, KEPT, UNSENT = "sent", "kept", "unsent"


@dataclass(frozen=True)
class TodaysDose:
    medication: str
    dose: Decimal
    unit: str


@dataclass(frozen=True)
class ToSay:
    """What the patient, or whoever is with them, tells the person who answers the call."""

    doses: list[TodaysDose]
    substances: bool
    substances_detail: str


def _to_say(patient, substances: bool | None, detail: str) -> ToSay | None:
    """Today's dose of each plan in force, as the clinician typed it, and what else was taken
    today (from the form just sent, else from today's log). None if the database fails."""
    try:
        today = local_today(datetime.now(UTC), patient.timezone)
        doses = [
            TodaysDose(f.plan.medication, f.dose.step.total, f.plan.unit)
            for f in plans.in_force(patient, today)
        ]
        if substances is None:
            logged = logs.versions_of_day(patient, today)
            if logged and logged[0].substances is not None:
                substances, detail = logged[0].substances, logged[0].substances_detail
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("urgent page without today's dose: database unavailable")
        return None
    return ToSay(doses, bool(substances), detail)


def urgent_page(
    flags: Sequence[str],
    *,
    patient=None,
    sent: str = SENT,
    when: str = "",
    substances: bool | None = None,
    substances_detail: str = "",
    log_unsaved: bool = False,
    resume: Mapping[str, str] | None = None,
    note_unsent: bool = False,
    code: int = 200,
):
    """The urgent-care response. ``patient`` (None when unknown or the database is down)
    adds what to tell them; ``resume`` (a log form's answers, when red flags were sent on
    their own) offers a button back to the log with every answer kept."""
    chosen = set(flags)
    return render_template(
        "patient/urgent.html",
        flags=[flag for flag in RED_FLAGS if flag.key in chosen],
        when=WHEN.get(when, ""),
        sent=sent,
        to_say=_to_say(patient, substances, substances_detail) if patient is not None else None,
        log_unsaved=log_unsaved and not resume,
        resume=resume,
        note_unsent=note_unsent,
    ), code
