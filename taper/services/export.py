"""A patient's own data as CSV (SECURITY.md F6), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from sqlalchemy import select

from taper.domain.doses import plain
from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models import DailyLog, LogDose, User
from taper.services import plans

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """Text a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _dose(value: Decimal | None) -> str:
    return "" if value is None else plain(value)


def _plan_columns(patient: User) -> list[tuple[int, str, str]]:
    """(plan id, column label, unit) for every plan that has run (drafts never ask a dose
    question): one set of dose columns per medication, so a crossover has two, each named by
    its medication (and plan number only when a medication comes back in a later plan)."""
    columns: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    for plan in plans.plans_for_patient(patient, include_drafts=False):
        label = plan.medication
        if label in seen:  # the same medication in a later plan: tell the columns apart
            label = f"{label} (plan {plan.id})"
        seen.add(label)
        columns.append((plan.id, label, plan.unit))
    return columns


def logs_csv(patient: User) -> str:
    """Every saved version of every log of the patient, oldest first: one row per version,
    with three dose columns per plan (empty on days that plan was not in force)."""
    items = [item.key for item in CIWA_B.patient_items]
    columns = _plan_columns(patient)
    out = io.StringIO()
    writer = csv.writer(out)
    dose_headers = [
        header
        for _, label, unit in columns
        for header in (
            f"{label} taken as scheduled",
            f"{label} dose taken ({unit})",
            f"{label} dose scheduled ({unit})",
        )
    ]
    writer.writerow(
        [
            safe_cell(v)
            for v in (
                "day",
                "version",
                "saved_at_utc",
                "symptom_score",
                "red_flags",
                "red_flags_when",
                *dose_headers,
                "alcohol_opioids_sedatives",
                "what_else_taken",
                "sleep_hours",
                "note",
                *items,
            )
        ]
    )
    for entry in db.session.scalars(
        select(DailyLog)
        .where(DailyLog.patient_id == patient.id)
        .order_by(DailyLog.day, DailyLog.version)
    ):
        answers = entry.answers or {}
        doses: dict[int, LogDose] = {d.plan_id: d for d in entry.doses}
        dose_cells = []
        for plan_id, _, _ in columns:
            found = doses.get(plan_id)
            dose_cells += (
                ["", "", ""]
                if found is None
                else [
                    "yes" if found.took_as_scheduled else "no",
                    _dose(found.dose_taken),
                    _dose(found.dose_scheduled),
                ]
            )
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    entry.day.isoformat(),
                    entry.version,
                    entry.created_at.isoformat(),
                    entry.patient_total,
                    " ".join(entry.red_flags or []),
                    entry.red_flags_when,
                    *dose_cells,
                    {True: "yes", False: "no", None: ""}[entry.substances],
                    entry.substances_detail,
                    entry.sleep_hours,
                    entry.note,
                    *(answers.get(key) for key in items),
                )
            ]
        )
    return out.getvalue()
