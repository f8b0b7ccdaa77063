"""Clinician views for alerts, patients' progress and logs, visit assessments and alert
thresholds: thin routes over services (the record pages are shared with the patient's)."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from taper import access
from taper.clinician import bp
from taper.clinician.forms import AlertNoteForm, AssessmentNoteForm, ThresholdsForm
from taper.domain import instrument
from taper.models import Role
from taper.services import ServiceError, alerts, assessments, records


def _open_alerts() -> int:
    """The nav's open-alert count for a signed-in clinician (0 for anyone else)."""
    if current_user.is_authenticated and current_user.role is Role.CLINICIAN:
        return alerts.open_alert_count(current_user)
    return 0


def alert_badge(count: int):
    """For a page whose statement already counted the open alerts: base.html's
    ``open_alerts()`` without a COUNT of its own."""
    return lambda: count


@bp.app_context_processor
def _alert_count():
    """Pages get a function, so the COUNT runs only where base.html shows it (once a page)."""
    return {"open_alerts": _open_alerts}


@bp.get("/alerts", endpoint="alerts")
def alerts_inbox():
    """Open alerts of your care team: urgent first, then review, then info."""
    page = alerts.inbox_page(current_user, request.args.get("page", 1, type=int))
    return render_template(
        "clinician/alerts.html",
        page=page,
        alerts=page.rows,
        form=AlertNoteForm(),
        open_alerts=alert_badge(page.open_alerts),
    )


def _triage(alert_id: int, action, done: str):
    """Acknowledge or resolve an alert of your care team, then back to the inbox."""
    alert = access.alert_or_404(current_user, alert_id)
    form = AlertNoteForm()
    if form.validate_on_submit():
        try:
            action(current_user, alert, form.note.data or "")
        except ServiceError as error:
            flash(error.message)
        else:
            flash(done)
    return redirect(url_for("clinician.alerts"))


@bp.post("/alerts/<int:alert_id>/acknowledge")
def acknowledge_alert(alert_id: int):
    """Record that you have seen an alert."""
    return _triage(alert_id, alerts.acknowledge, "Alert acknowledged.")


@bp.post("/alerts/<int:alert_id>/resolve")
def resolve_alert(alert_id: int):
    """Close an alert with a note."""
    return _triage(alert_id, alerts.resolve, "Alert resolved.")


@bp.get("/patients/<int:patient_id>/progress")
def patient_progress(patient_id: int):
    """A patient's progress for their clinician, with the symptom heatmap."""
    patient = access.patient_or_404(current_user, patient_id)
    chart_range = records.range_name(request.args.get("range", "30"))
    page = records.progress_page(current_user, patient, chart_range)
    return render_template("progress.html", **page)


def _day_url(patient_id: int):
    """Where each day of the history links to: that day's versions."""
    return lambda d: url_for("clinician.patient_log_day", patient_id=patient_id, day=d.isoformat())


@bp.get("/patients/<int:patient_id>/logs")
def patient_logs(patient_id: int):
    """A patient's daily logs, newest first, with corrections marked."""
    patient = access.patient_or_404(current_user, patient_id)
    page = records.history_page(current_user, patient)
    return render_template("logs/history.html", day_url=_day_url(patient.id), **page)


@bp.get("/patients/<int:patient_id>/logs/<day>")
def patient_log_day(patient_id: int, day: str):
    """Every version of one day's log."""
    patient = access.patient_or_404(current_user, patient_id)
    page = records.log_day_page(current_user, patient, day)
    if page is None:
        abort(404)
    return render_template("logs/day.html", **page)


@bp.route("/patients/<int:patient_id>/assessments/new", methods=["GET", "POST"])
def new_assessment(patient_id: int):
    """Record a full CIWA-B (all 20 items) at a visit."""
    patient = access.patient_or_404(current_user, patient_id)
    form = AssessmentNoteForm()
    errors: dict[str, str] = {}
    if not form.is_submitted():
        form.submission_id.data = uuid.uuid4().hex
    elif form.validate():
        try:
            assessments.record_visit(
                current_user, patient, request.form, form.note.data or "", form.submission_id.data
            )
        except instrument.AnswerError as error:
            errors = error.errors
        else:
            # The total is shown on the page, never put in the message: flashed messages
            # ride in the session cookie, which is signed, not encrypted.
            flash("Assessment saved: its total is first under Visit assessments.")
            return redirect(url_for("clinician.patient", patient_id=patient.id) + "#logs-heading")
    status = 400 if request.method == "POST" else 200
    return render_template(
        "clinician/assessment.html",
        patient=patient,
        scale=assessments.SCALE,
        form=form,
        errors=errors,
        values=request.form,
    ), status


def _refused(form: ThresholdsForm, error: ServiceError, patient_id: int) -> None:
    """A refusal beside its field; a conflict at the top, the form now based on what is
    stored (so saving again, once checked, goes through)."""
    if error.field is None:
        flash(error.message)
        form.seen.data = alerts.shown(alerts.thresholds_for(patient_id))
    else:
        form[error.field].errors = [*form[error.field].errors, error.message]


@bp.route("/patients/<int:patient_id>/alert-settings", methods=["GET", "POST"])
def alert_settings(patient_id: int):
    """Adjust a patient's alert thresholds."""
    patient = access.patient_or_404(current_user, patient_id)
    current = alerts.thresholds_for(patient.id)
    form = ThresholdsForm(data=asdict(current) if request.method == "GET" else None)
    if request.method == "GET":
        form.seen.data = alerts.shown(current)
    elif form.validate():
        values = {name: form[name].data for name in alerts.TUNABLE}
        try:
            alerts.set_thresholds(current_user, patient, values, form.seen.data or None)
        except ServiceError as error:
            _refused(form, error, patient.id)
        else:
            flash("Alert thresholds saved.")
            return redirect(url_for("clinician.patient", patient_id=patient.id))
    status = 400 if request.method == "POST" else 200
    return render_template("clinician/alert_settings.html", patient=patient, form=form), status
