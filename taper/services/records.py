"""Page builders for the records both roles see: progress, log history and one day's log
(and the patient's own CSV).

Each builder takes the viewer and a patient the view has already loaded through
``access.patient_or_404``, records the audit row, commits, and returns what the template
needs (the view adds only its role's links)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from taper.charts.data import heatmap_summary, medication_name, summary
from taper.domain.instrument import CIWA_B
from taper.domain.red_flags import LABELS
from taper.domain.schedule import local_today
from taper.domain.timeline import STATUS_WORDS
from taper.extensions import db
from taper.models import Role, User
from taper.services import audit, export, logs, progress

RECORD_DAYS = 365  # how far back the log history page reaches


def range_name(value: str | None) -> str:
    """The chart range asked for, or the last 30 days when it is not one we draw."""
    return value if value in progress.RANGES else "30"


def viewed(
    viewer: User,
    action: str,
    patient: User,
    object_type: str = "user",
    object_id: int | None = None,
) -> None:
    """Audit that the viewer saw something of the patient's, and commit the request."""
    object_id = patient.id if object_id is None else object_id
    audit.record(viewer, action, object_type, object_id, patient_id=patient.id)
    db.session.commit()


def progress_page(viewer: User, patient: User, range_name: str) -> dict[str, Any]:
    """The progress page: the chart's data and numbers (and the heatmap for clinicians)."""
    own = viewer.role is Role.PATIENT
    data = progress.progress_data(patient, range_name, simple=own)
    heat = None if own else progress.heatmap_data(patient, range_name)
    viewed(viewer, "progress.view", patient)
    return {
        "patient": patient,
        "data": data,
        "heat": heat,
        "heat_alt": heatmap_summary(heat) if heat else "",
        "alt": summary(data),
        "range_name": range_name,
        "own": own,
        "flag_days": set(data.red_flag_days),
        "taken": [dict(series.taken) for series in data.plans],
        "scores": dict(data.scores),
        "days": sorted(
            {d for d, _ in data.scores}
            | {d for series in data.plans for d, _ in series.taken}
            | set(data.red_flag_days),
            reverse=True,
        ),
        "names": [medication_name(series) for series in data.plans],
        "status_words": STATUS_WORDS,
        "scale": CIWA_B,
    }


def history_page(viewer: User, patient: User) -> dict[str, Any]:
    """The log history: a year of logged days (versions in force), newest first."""
    today = local_today(datetime.now(UTC), patient.timezone)
    entries = logs.current_logs(patient, today - timedelta(days=RECORD_DAYS), today)
    viewed(viewer, "log.history", patient)
    return {
        "patient": patient,
        "entries": list(reversed(entries)),
        "scale": CIWA_B,
        "red_flags": LABELS,
        "own": viewer.role is Role.PATIENT,
    }


def log_day_page(viewer: User, patient: User, day: str) -> dict[str, Any] | None:
    """Every saved version of one day's log; None when the day is not a date or not logged."""
    try:
        when = date.fromisoformat(day)
    except ValueError:
        return None
    versions = logs.versions_of_day(patient, when)
    if not versions:
        return None
    viewed(viewer, "log.view", patient, "daily_log", versions[0].id)
    return {
        "patient": patient,
        "day": when,
        "versions": versions,
        "scale": CIWA_B,
        "red_flags": LABELS,
        "own": viewer.role is Role.PATIENT,
    }


def own_logs_csv(patient: User) -> str:
    """Everything the patient has logged, as CSV for their own download (audited)."""
    body = export.logs_csv(patient)
    viewed(patient, "log.export", patient)
    return body
