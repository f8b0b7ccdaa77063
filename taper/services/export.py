"""A patient's record as CSV (SECURITY.md F6), safe to open in a spreadsheet.

Every file starts with a UTF-8 byte order mark (so Excel reads accents and emoji), has one
header row, writes dates as YYYY-MM-DD and times as ISO 8601 in UTC, ends lines with "\\r\\n"
and passes every cell through ``safe_cell``. Each loads everything in a fixed number of
queries, however long the record."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taper.domain.doses import plain
from taper.domain.instrument import CIWA_B
from taper.domain.schedule import TIMES_OF_DAY, local_today
from taper.domain.timeline import step_periods
from taper.extensions import db
from taper.models import (
    Alert,
    DailyLog,
    LogDose,
    PlanRevision,
    PlanStatus,
    RedFlagReport,
    TaperPlan,
    User,
    VisitAssessment,
)
from taper.services import plans

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


# A spreadsheet whose list separator is ";" (many locales) or a tab splits a cell there, even
# inside quotes: what follows one must not start a formula either ("Fine;=2+5" -> "Fine;'=2+5").
_FORMULA_AFTER_SPLIT = re.compile(r"([;\t])(?=[\s\"]*[=+\-@])")


def safe_cell(value: object) -> str:
    """Text a spreadsheet will not run as a formula, however it splits the line."""
    text = _FORMULA_AFTER_SPLIT.sub(r"\1'", "" if value is None else str(value))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _dose(value: Decimal | None) -> str:
    return "" if value is None else plain(value)


def _day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def _at(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _name(user: User | None) -> str:
    return "" if user is None else user.name


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: ""}[value]


def _csv(header: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    """The text of one CSV file: the byte order mark, the header, the rows, all cells safe."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow([safe_cell(v) for v in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue()


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


def _log_dose_cells(entry: DailyLog, columns: list[tuple[int, str, str]]) -> list[str]:
    doses: dict[int, LogDose] = {d.plan_id: d for d in entry.doses}
    cells: list[str] = []
    for plan_id, _, _ in columns:
        found = doses.get(plan_id)
        cells += (
            ["", "", ""]
            if found is None
            else [
                _yes_no(found.took_as_scheduled),
                _dose(found.dose_taken),
                _dose(found.dose_scheduled),
            ]
        )
    return cells


def logs_csv(patient: User) -> str:
    """Every saved version of every log of the patient, oldest first: one row per version,
    with three dose columns per plan (empty on days that plan was not in force)."""
    items = [item.key for item in CIWA_B.patient_items]
    columns = _plan_columns(patient)
    dose_headers = [
        header
        for _, label, unit in columns
        for header in (
            f"{label} taken as scheduled",
            f"{label} dose taken ({unit})",
            f"{label} dose scheduled ({unit})",
        )
    ]
    header = (
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
    entries = db.session.scalars(
        select(DailyLog)
        .where(DailyLog.patient_id == patient.id)
        .order_by(DailyLog.day, DailyLog.version)
    )
    rows = (
        (
            _day(entry.day),
            entry.version,
            _at(entry.created_at),
            entry.patient_total,
            " ".join(entry.red_flags or []),
            entry.red_flags_when,
            *_log_dose_cells(entry, columns),
            _yes_no(entry.substances),
            entry.substances_detail,
            entry.sleep_hours,
            entry.note,
            *((entry.answers or {}).get(key) for key in items),
        )
        for entry in entries
    )
    return _csv(header, rows)


PLAN_HEADER = (
    "plan_id",
    "medication",
    "unit",
    "plan_status",
    "revision",
    "revision_saved_at_utc",
    "saved_by",
    "reason",
    "current",
    "hold_kind",
    "hold_start",
    "hold_until",
    "step",
    "step_start",
    "step_end",
    "step_date_as_saved",
    "total_daily_dose",
    *TIMES_OF_DAY,
    "note",
)


def _revision_rows(plan: TaperPlan, revision: PlanRevision) -> list[list[object]]:
    """One row per step of a revision (one row with empty step cells if it has none), with
    the days each step is in force once the revision's hold or pause is applied."""
    hold = plans.hold_of(revision)
    head = [
        plan.id,
        plan.medication,
        plan.unit,
        plan.status.value,
        revision.number,
        _at(revision.created_at),
        _name(revision.author),
        revision.reason,
        _yes_no(revision.id == plan.current_revision_id),
        "" if hold is None else hold.kind,
        _day(revision.hold_start),
        _day(revision.hold_until),
    ]
    ended = plan.completed_on if plan.status is PlanStatus.COMPLETED else None
    periods = step_periods(plans.step_inputs(revision), hold, ended)
    if not periods:
        return [head + [""] * (len(PLAN_HEADER) - len(head))]
    return [
        [
            *head,
            number,
            _day(period.start),
            _day(period.end),
            _day(step.start_date),
            _dose(step.total),
            *(_dose(getattr(step, part)) for part in TIMES_OF_DAY),
            step.note,
        ]
        for number, (period, step) in enumerate(zip(periods, revision.steps, strict=True), 1)
    ]


def plans_csv(patient: User, *, include_drafts: bool) -> str:
    """Every revision of every plan of the patient, oldest first: one row per step. Drafts
    only with ``include_drafts`` (the patient's own copy never shows a clinician's draft, nor
    a revision replaced while its plan was a draft)."""
    rows = [
        row
        for plan in plans.with_revisions(patient, include_drafts=include_drafts)
        for revision in plan.revisions
        if include_drafts or not plan.never_ran(revision)
        for row in _revision_rows(plan, revision)
    ]
    return _csv(PLAN_HEADER, rows)


ALERT_HEADER = (
    "alert_id",
    "raised_at_utc",
    "kind",
    "tier",
    "status",
    "reason",
    "plan_id",
    "log_day",
    "acknowledged_by",
    "acknowledged_at_utc",
    "resolved_by",
    "resolved_at_utc",
    "note",
    "quote",
)


def alerts_csv(patient: User) -> str:
    """Every alert raised about the patient, oldest first: one row per alert."""
    alerts = db.session.scalars(
        select(Alert)
        .where(Alert.patient_id == patient.id)
        .options(
            selectinload(Alert.acknowledged_by),
            selectinload(Alert.resolved_by),
            selectinload(Alert.log),
        )
        .order_by(Alert.created_at, Alert.id)
    )
    rows = (
        (
            alert.id,
            _at(alert.created_at),
            alert.kind,
            alert.tier,
            alert.status.value,
            alert.reason,
            alert.plan_id,
            "" if alert.log is None else _day(alert.log.day),
            _name(alert.acknowledged_by),
            _at(alert.acknowledged_at),
            _name(alert.resolved_by),
            _at(alert.resolved_at),
            alert.note,
            alert.quote,
        )
        for alert in alerts
    )
    return _csv(ALERT_HEADER, rows)


VISIT_ITEMS = tuple(item.key for item in CIWA_B.items)
VISIT_HEADER = ("day", "recorded_at_utc", "clinician", "total", "note", *VISIT_ITEMS)


def visits_csv(patient: User) -> str:
    """Every CIWA-B a clinician recorded at a visit, oldest first: one row per visit, with
    all 20 items."""
    visits = db.session.scalars(
        select(VisitAssessment)
        .where(VisitAssessment.patient_id == patient.id)
        .options(selectinload(VisitAssessment.clinician))
        .order_by(VisitAssessment.day, VisitAssessment.created_at, VisitAssessment.id)
    )
    rows = (
        (
            _day(visit.day),
            _at(visit.created_at),
            _name(visit.clinician),
            visit.total,
            visit.note,
            *(visit.answers.get(key) for key in VISIT_ITEMS),
        )
        for visit in visits
    )
    return _csv(VISIT_HEADER, rows)


RED_FLAG_HEADER = (
    "report_id",
    "sent_at_utc",
    "stored_at_utc",
    "day",
    "red_flags",
    "red_flags_when",
    "source",
    "message",
)


def red_flags_csv(patient: User) -> str:
    """Every red flag (or "I need help now" message) the patient sent without a daily log,
    oldest first: when they sent it (for a report kept on their device, when it was finally
    sent), when Taper stored it, and the patient's day it was sent on."""
    reports = db.session.scalars(
        select(RedFlagReport)
        .where(RedFlagReport.patient_id == patient.id)
        .order_by(RedFlagReport.created_at, RedFlagReport.id)
    )
    rows = (
        (
            report.id,
            _at(report.reported_at or report.created_at),
            _at(report.created_at),
            _day(local_today(report.reported_at or report.created_at, patient.timezone)),
            " ".join(report.flags or []),
            report.when,
            report.source,
            report.note,
        )
        for report in reports
    )
    return _csv(RED_FLAG_HEADER, rows)
