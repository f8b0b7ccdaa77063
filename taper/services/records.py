"""Page builders for the records both roles see: progress, log history and one day's log
and the downloads of a record (FHIR and CSV files, and a care team's ZIP).

Each builder takes the viewer and a patient the view has already loaded through
``access.patient_or_404``, records the audit row, commits, and returns what the template
needs (the view adds only its role's links). A download's audit row is committed before its
first byte is produced, so a file that left the server is never missing from the trail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from taper.charts.data import heatmap_summary, medication_name, summary
from taper.domain.instrument import CIWA_B
from taper.domain.red_flags import LABELS
from taper.domain.schedule import local_today
from taper.domain.timeline import STATUS_WORDS
from taper.extensions import db
from taper.models import Role, User
from taper.services import accounts, audit, export, fhir_export, logs, progress

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
    summary: dict | None = None,
) -> None:
    """Audit that the viewer saw something of the patient's, and commit the request."""
    object_id = patient.id if object_id is None else object_id
    audit.record_views(viewer, action, object_type, [(object_id, patient.id)], summary)
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
    """The log history: a year of logged days (versions in force), newest first, and the red
    flags sent without a log (from "I need help now", or added to a day already saved)."""
    today = local_today(datetime.now(UTC), patient.timezone)
    first = today - timedelta(days=RECORD_DAYS)
    entries = logs.current_logs(patient, first, today)
    sent = logs.flags_sent(patient, first, today)
    viewed(viewer, "log.history", patient)
    return {
        "patient": patient,
        "entries": list(reversed(entries)),
        "sent": sent,
        "scale": CIWA_B,
        "red_flags": LABELS,
        "own": viewer.role is Role.PATIENT,
    }


def log_day_page(viewer: User, patient: User, day: str) -> dict[str, Any] | None:
    """Every saved version of one day's log and the red flags sent on their own that day;
    None when the day is not a date or nothing was sent that day."""
    try:
        when = date.fromisoformat(day)
    except ValueError:
        return None
    versions = logs.versions_of_day(patient, when)
    sent = logs.flags_sent(patient, when, when)
    if versions:
        viewed(viewer, "log.view", patient, "daily_log", versions[0].id)
    elif sent:
        viewed(viewer, "log.view", patient, "red_flag_report", sent[0].report.id)
    else:
        return None
    return {
        "patient": patient,
        "day": when,
        "versions": versions,
        "sent": sent,
        "scale": CIWA_B,
        "red_flags": LABELS,
        "own": viewer.role is Role.PATIENT,
    }


@dataclass(frozen=True)
class Download:
    """A file for the browser to save: its plain ASCII name, media type (the whole
    Content-Type, with its charset for text) and contents (text, or UTF-8 bytes in pieces to
    stream)."""

    filename: str
    mimetype: str
    body: str | Iterator[bytes]


CSV_TYPE = "text/csv; charset=utf-8"
ZIP_TYPE = "application/zip"
# The files of one patient's record: the name in the URL (also the end of the file's name)
# and the format the audit row names.
EXPORT_FILES: dict[str, str] = {
    "record.fhir.json": "fhir",
    "logs.csv": "logs",
    "plans.csv": "plans",
    "alerts.csv": "alerts",
    "visits.csv": "visits",
    "red_flags.csv": "red_flags",
}
_CSV: dict[str, Callable[[User], str]] = {
    "logs": export.logs_csv,
    "alerts": export.alerts_csv,
    "visits": export.visits_csv,
    "red_flags": export.red_flags_csv,
}


def _contents(viewer: User, patient: User, which: str) -> tuple[str, str | Iterator[bytes]]:
    """The file's media type and contents: drafts of plans only in a clinician's copy."""
    drafts = viewer.role is Role.CLINICIAN
    if which == "fhir":
        return fhir_export.MEDIA_TYPE, fhir_export.bundle_chunks(patient, include_drafts=drafts)
    if which == "plans":
        return CSV_TYPE, export.plans_csv(patient, include_drafts=drafts)
    return CSV_TYPE, _CSV[which](patient)


def export_file(viewer: User, patient: User, name: str) -> Download | None:
    """One file of a patient's record (``name``, a key of ``EXPORT_FILES``), audited as
    ``record.export`` and committed before any of it is sent; None for an unknown name."""
    which = EXPORT_FILES.get(name)
    if which is None:
        return None
    mimetype, body = _contents(viewer, patient, which)
    mine = viewer.id == patient.id
    filename = f"taper-my-{name}" if mine else f"taper-patient-{patient.id}-{name}"
    viewed(viewer, "record.export", patient, summary={"format": which})
    return Download(filename, mimetype, body)


def care_team_export(clinician: User) -> Download:
    """Every patient of the clinician's care team as FHIR Bundles in one ZIP: one
    ``record.export`` audit row per patient, committed before any of it is sent."""
    team = accounts.care_team_patients(clinician)
    for patient in team:
        audit.record(
            clinician,
            "record.export",
            "user",
            patient.id,
            patient_id=patient.id,
            summary={"format": "fhir-zip"},
        )
    db.session.commit()
    today = local_today(datetime.now(UTC), clinician.timezone)
    chunks = fhir_export.care_team_zip_chunks(clinician, team)
    return Download(f"taper-care-team-{today.isoformat()}.zip", ZIP_TYPE, chunks)
