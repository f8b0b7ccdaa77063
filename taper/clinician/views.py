"""Clinician pages: the care team and each patient."""

from __future__ import annotations

from flask import current_app, render_template, request, url_for
from flask_login import current_user

from taper import access
from taper.auth.views import issue_link_page, set_password_link_page
from taper.clinician import bp
from taper.clinician.care import alert_badge
from taper.clinician.details import NewPatientWithPhoneForm, patient_page
from taper.models import Role
from taper.services import ServiceError, accounts, overview


@bp.get("/patients")
def patients():
    """The care team, sorted by need: urgent alerts, review alerts, missed logs, the rest."""
    alert_filter = request.args.get("alerts", "all")
    if alert_filter not in overview.FILTERS:
        alert_filter = "all"
    search = request.args.get("q", "")
    page = overview.overview_page(
        current_user,
        alert_filter=alert_filter,
        search=search,
        page=request.args.get("page", 1, type=int),
    )
    return render_template(
        "clinician/patients.html",
        page=page,
        rows=page.rows,
        filters=overview.FILTERS,
        alert_filter=alert_filter,
        search=search[:100],
        open_alerts=alert_badge(page.open_alerts),
    )


@bp.route("/patients/new", methods=["GET", "POST"])
def new_patient():
    """Add a new patient to your own care team and get their set-password link."""
    form = NewPatientWithPhoneForm()
    if not form.is_submitted():
        form.timezone.data = current_app.config["DEFAULT_TIMEZONE"]
    if form.validate_on_submit():
        try:
            patient, token = accounts.open_account(
                current_user,
                role=Role.PATIENT,
                care_team_of=current_user,
                phone=form.phone.data,
                **form.account(),
            )
        except ServiceError as error:
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            back = url_for("clinician.patient", patient_id=patient.id)
            return set_password_link_page(patient, token, back)
    status = 400 if form.is_submitted() else 200
    return render_template("clinician/new_patient.html", form=form), status


@bp.get("/patients/<int:patient_id>")
def patient(patient_id: int):
    """One patient on your care team."""
    return patient_page(access.patient_or_404(current_user, patient_id))


@bp.post("/patients/<int:patient_id>/link")
def new_link(patient_id: int):
    """A fresh set-password link for a patient on your care team: shown only if they never had
    a password, else e-mailed to them."""
    patient = access.patient_or_404(current_user, patient_id)
    return issue_link_page(patient, url_for("clinician.patient", patient_id=patient.id))
