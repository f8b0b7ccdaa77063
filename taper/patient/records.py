"""The patient's records: their log history, one day's versions, and the CSV export."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Response, abort, render_template, url_for
from flask_login import current_user

from taper.domain.instrument import CIWA_B
from taper.domain.red_flags import RED_FLAGS
from taper.extensions import db
from taper.patient import bp
from taper.patient.views import _today
from taper.services import audit, export, logs


@bp.get("/history")
def history():
    """Your logs, newest first, with corrections kept."""
    patient = current_user._get_current_object()
    today = _today()
    entries = list(reversed(logs.current_logs(patient, today - timedelta(days=365), today)))
    audit.record(patient, "log.history", "user", patient.id, patient_id=patient.id)
    db.session.commit()
    return render_template(
        "logs/history.html",
        patient=patient,
        entries=entries,
        scale=CIWA_B,
        red_flags={f.key: f.label for f in RED_FLAGS},
        own=True,
        day_url=lambda d: url_for("patient.log_day", day=d.isoformat()),
    )


@bp.get("/history/<day>")
def log_day(day: str):
    """Every saved version of one day's log."""
    patient = current_user._get_current_object()
    try:
        when = date.fromisoformat(day)
    except ValueError:
        abort(404)
    versions = logs.versions_of_day(patient, when)
    if not versions:
        abort(404)
    audit.record(patient, "log.view", "daily_log", versions[0].id, patient_id=patient.id)
    db.session.commit()
    return render_template(
        "logs/day.html",
        patient=patient,
        day=when,
        versions=versions,
        scale=CIWA_B,
        red_flags={f.key: f.label for f in RED_FLAGS},
    )


@bp.get("/export.csv")
def export_csv():
    """Download everything you have logged, as a spreadsheet file."""
    patient = current_user._get_current_object()
    body = export.logs_csv(patient)
    audit.record(patient, "log.export", "user", patient.id, patient_id=patient.id)
    db.session.commit()
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="taper-my-logs.csv"'},
    )
