"""A patient's own data as CSV (SECURITY.md F6), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models import DailyLog, User

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """Text a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def logs_csv(patient: User) -> str:
    """Every saved version of every log of the patient, oldest first."""
    items = [item.key for item in CIWA_B.patient_items]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "day",
            "version",
            "saved_at_utc",
            "symptom_score",
            "red_flags",
            "took_as_scheduled",
            "dose_taken_mg",
            "dose_scheduled_mg",
            "sleep_hours",
            "note",
            *items,
        ]
    )
    for entry in db.session.scalars(
        select(DailyLog)
        .where(DailyLog.patient_id == patient.id)
        .order_by(DailyLog.day, DailyLog.version)
    ):
        answers = entry.answers or {}
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    entry.day.isoformat(),
                    entry.version,
                    entry.created_at.isoformat(),
                    entry.patient_total,
                    " ".join(entry.red_flags or []),
                    {True: "yes", False: "no"}.get(entry.took_as_scheduled, ""),
                    entry.dose_taken,
                    entry.dose_scheduled,
                    entry.sleep_hours,
                    entry.note,
                    *(answers.get(key) for key in items),
                )
            ]
        )
    return out.getvalue()
