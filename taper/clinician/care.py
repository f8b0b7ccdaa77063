"""Clinician views for alerts, patients' logs, visit assessments and alert thresholds."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from taper import access
from taper.clinician import bp
from taper.clinician.forms import AlertNoteForm, AssessmentNoteForm, ThresholdsForm
from taper.domain import instrument
from taper.domain.red_flags import RED_FLAGS
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import Alert, Role, VisitAssessment
from taper.services import ServiceError, alerts, audit, logs

SCALE = instrument.CIWA_B
FLAG_LABELS = {f.key: f.label for f in RED_FLAGS}


@bp.app_context_processor
def _alert_count():
    if current_user.is_authenticated and current_user.role is Role.CLINICIAN:
        return {"open_alerts": alerts.open_alert_count(current_user)}
    return {"open_alerts": 0}


@bp.get("/alerts", endpoint="alerts")
def alerts_inbox():
    """Open alerts of your care team: urgent first, then review, then info."""
    page = alerts.inbox(current_user, request.args.get("page", 1, type=int))
    audit.record_views(
        current_user, "alert.view", "alert", [(alert.id, alert.patient_id) for alert in page.rows]
    )
    db.session.commit()
    return render_template(
        "clinician/alerts.html",
        page=page,
        alerts=page.rows,
        form=AlertNoteForm(),
        flag_labels=FLAG_LABELS,
    )


def _alert_or_404(alert_id: int) -> Alert:
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        access.deny(404)
    access.patient_or_404(current_user, alert.patient_id)
    return alert


@bp.post("/alerts/<int:alert_id>/acknowledge")
def acknowledge_alert(alert_id: int):
    """Record that you have seen an alert."""
    alert = _alert_or_404(alert_id)
    form = AlertNoteForm()
    if form.validate_on_submit():
        try:
            alerts.acknowledge(current_user, alert, form.note.data or "")
            db.session.commit()
            flash("Alert acknowledged.")
        except ServiceError as error:
            db.session.rollback()
            flash(error.message)
    return redirect(url_for("clinician.alerts"))


@bp.post("/alerts/<int:alert_id>/resolve")
def resolve_alert(alert_id: int):
    """Close an alert with a note."""
    alert = _alert_or_404(alert_id)
    form = AlertNoteForm()
    if form.validate_on_submit():
        try:
            alerts.resolve(current_user, alert, form.note.data or "")
            db.session.commit()
            flash("Alert resolved.")
        except ServiceError as error:
            db.session.rollback()
            flash(error.message)
    return redirect(url_for("clinician.alerts"))


@bp.get("/patients/<int:patient_id>/logs")
def patient_logs(patient_id: int):
    """A patient's daily logs, newest first, with corrections marked."""
    patient = access.patient_or_404(current_user, patient_id)
    today = local_today(datetime.now(UTC), patient.timezone)
    entries = list(reversed(logs.current_logs(patient, today - timedelta(days=365), today)))
    audit.record(current_user, "log.history", "user", patient.id, patient_id=patient.id)
    db.session.commit()
    return render_template(
        "logs/history.html",
        patient=patient,
        entries=entries,
        scale=SCALE,
        red_flags=FLAG_LABELS,
        own=False,
        day_url=lambda d: url_for(
            "clinician.patient_log_day", patient_id=patient.id, day=d.isoformat()
        ),
    )


@bp.get("/patients/<int:patient_id>/logs/<day>")
def patient_log_day(patient_id: int, day: str):
    """Every version of one day's log."""
    patient = access.patient_or_404(current_user, patient_id)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        abort(404)
    versions = logs.versions_of_day(patient, when)
    if not versions:
        abort(404)
    audit.record(current_user, "log.view", "daily_log", versions[0].id, patient_id=patient.id)
    db.session.commit()
    return render_template(
        "logs/day.html",
        patient=patient,
        day=when,
        versions=versions,
        scale=SCALE,
        red_flags=FLAG_LABELS,
    )


@bp.route("/patients/<int:patient_id>/assessments/new", methods=["GET", "POST"])
def new_assessment(patient_id: int):
    """Record a full CIWA-B (all 20 items) at a visit."""
    patient = access.patient_or_404(current_user, patient_id)
    form = AssessmentNoteForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            answers = instrument.parse_answers(SCALE, request.form, rater_set="all")
        except instrument.AnswerError as error:
            errors = error.errors
        else:
            total = instrument.total(answers)
            visit = VisitAssessment(
                patient_id=patient.id,
                clinician_id=current_user.id,
                day=local_today(datetime.now(UTC), patient.timezone),
                answers=answers,
                total=total,
                note=(form.note.data or "").strip(),
            )
            db.session.add(visit)
            db.session.flush()
            audit.record(
                current_user,
                "assessment.create",
                "visit_assessment",
                visit.id,
                patient_id=patient.id,
            )
            db.session.commit()
            band = instrument.band_for(SCALE, total)
            flash(f"Assessment saved: total {total} of {SCALE.total_max} ({band.label}).")
            return redirect(url_for("clinician.patient", patient_id=patient.id))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "clinician/assessment.html",
        patient=patient,
        scale=SCALE,
        form=form,
        errors=errors,
        values=request.form,
    ), status


@bp.route("/patients/<int:patient_id>/alert-settings", methods=["GET", "POST"])
def alert_settings(patient_id: int):
    """Adjust a patient's alert thresholds."""
    patient = access.patient_or_404(current_user, patient_id)
    current = alerts.thresholds_for(patient.id)
    form = ThresholdsForm(data=asdict(current) if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            alerts.set_thresholds(
                current_user, patient, {name: form[name].data for name in alerts.TUNABLE}
            )
        except ServiceError as error:
            db.session.rollback()
            form[error.field].errors = [*form[error.field].errors, error.message]
        else:
            db.session.commit()
            flash("Alert thresholds saved.")
            return redirect(url_for("clinician.patient", patient_id=patient.id))
    status = 400 if request.method == "POST" else 200
    return render_template("clinician/alert_settings.html", patient=patient, form=form), status
