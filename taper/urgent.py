"""The urgent-care page: what to do now, what to tell whoever answers, and whether the care
team was told. It renders with no database at all (a report kept on the device while Taper's
database is down), so everything it reads from the database is optional."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flask import render_template

from taper.domain.red_flags import WHEN, flags_of
from taper.services import patient_day

# Whether the care team was told: "sent"; "kept" (signed, on this device, sent at the next
# chance); "unsent" (could not be kept either: call them).
SENT, KEPT, UNSENT = "sent", "kept", "unsent"


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
    return render_template(
        "patient/urgent.html",
        flags=flags_of(flags),
        when=WHEN.get(when, ""),
        sent=sent,
        to_say=(
            patient_day.to_say(patient, substances, substances_detail)
            if patient is not None
            else None
        ),
        log_unsaved=log_unsaved and not resume,
        resume=resume,
        note_unsent=note_unsent,
    ), code
