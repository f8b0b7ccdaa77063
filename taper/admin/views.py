"""Admin: accounts and care-team assignments. No clinical data is shown here."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectChoice

from taper import access
from taper.admin import bp
from taper.admin.forms import AssignForm, NewAccountForm
from taper.auth.views import issue_link_page, set_password_link_page
from taper.models import Role
from taper.services import ServiceError, accounts, admin
from taper.web import id_arg


def _choices(users) -> list[SelectChoice]:
    return [SelectChoice(u.id, f"{u.name} ({u.email})") for u in users]


def _assign_form() -> AssignForm:
    form = AssignForm()
    clinicians, patients = admin.active_clinicians_and_patients()
    form.clinician.choices = _choices(clinicians)
    form.patient.choices = _choices(patients)
    return form


def _new_account_form(**kwargs) -> NewAccountForm:
    return NewAccountForm(timezone=current_app.config["DEFAULT_TIMEZONE"], **kwargs)


def _render_accounts(new_form: NewAccountForm, assign_form: AssignForm, status: int = 200):
    users, teams = admin.accounts_with_teams()
    return render_template(
        "admin/accounts.html",
        users=users,
        teams=teams,
        new_form=new_form,
        assign_form=assign_form,
    ), status


@bp.get("/accounts", endpoint="accounts")
def accounts_page():
    """List every account with its role, state and care team."""
    return _render_accounts(_new_account_form(), _assign_form())


@bp.post("/accounts/new")
def create_account():
    """Create an account and show its one-time set-password link."""
    form = NewAccountForm()
    if form.validate_on_submit():
        try:
            user, token = accounts.open_account(
                current_user, role=Role(form.role.data), **form.account()
            )
        except ServiceError as error:
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            return set_password_link_page(user, token, url_for("admin.accounts"))
    return _render_accounts(form, _assign_form(), 400)


@bp.post("/accounts/<int:user_id>/link")
def new_link(user_id: int):
    """Issue a fresh set-password link: shown only for an account that never had a password,
    else e-mailed to its owner. Never for the admin's own account or another admin's."""
    user = access.account_or_404(current_user, user_id)
    return issue_link_page(user, url_for("admin.accounts"))


@bp.post("/accounts/<int:user_id>/deactivate")
def deactivate(user_id: int):
    """Switch an account off; its sessions end at once. The admin is told at once of any
    patient this leaves with no active clinician."""
    user = access.account_or_404(current_user, user_id)
    if user.id == current_user.id:
        flash("You cannot deactivate your own account.")
        return redirect(url_for("admin.accounts"))
    try:
        uncovered = accounts.deactivate_account(current_user, user)
    except ServiceError as error:
        flash(error.message)
    else:
        flash(f"{user.name} can no longer log in.")
        if uncovered:
            flash(_uncovered_warning([p.name for p in uncovered]))
    return redirect(url_for("admin.accounts"))


def _uncovered_warning(names: list[str]) -> str:
    return (
        f"No active clinician has {', '.join(names)} on their care team now: their alerts "
        "reach no clinician until you add one below."
    )


@bp.post("/accounts/<int:user_id>/reactivate")
def reactivate(user_id: int):
    """Switch a deactivated account on again (its password stays)."""
    user = access.account_or_404(current_user, user_id)
    if accounts.reactivate_account(current_user, user):
        flash(f"{user.name} can log in again.")
    return redirect(url_for("admin.accounts"))


@bp.post("/care-team")
def assign():
    """Put a patient on a clinician's care team."""
    form = _assign_form()
    if form.validate_on_submit():
        clinician = access.account_or_404(current_user, form.clinician.data)
        patient = access.account_or_404(current_user, form.patient.data)
        try:
            accounts.join_care_team(current_user, clinician, patient)
        except ServiceError as error:
            form.patient.errors.append(error.message)
        else:
            flash(f"{patient.name} is now on {clinician.name}'s care team.")
            return redirect(url_for("admin.accounts"))
    return _render_accounts(_new_account_form(formdata=None), form, 400)


@bp.post("/care-team/<int:patient_id>/<int:clinician_id>/remove")
def unassign(patient_id: int, clinician_id: int):
    """Take a clinician off a patient's care team: they no longer see the patient's record."""
    patient = access.account_or_404(current_user, patient_id)
    clinician = access.account_or_404(current_user, clinician_id)
    try:
        covered = accounts.leave_care_team(current_user, clinician, patient)
    except ServiceError as error:
        flash(error.message)
    else:
        flash(f"{patient.name} is not on {clinician.name}'s care team now.")
        if not covered:
            flash(_uncovered_warning([patient.name]))
    return redirect(url_for("admin.accounts"))


@bp.get("/audit")
def audit_trail():
    """Who did what to which account, and when (newest first); no clinical events."""
    chosen = id_arg("patient")
    trail = admin.audit_trail(chosen)
    return render_template(
        "admin/audit.html",
        events=trail.events,
        people=trail.people,
        patients=trail.patients,
        chosen=chosen,
        limit=admin.AUDIT_PAGE_SIZE,
    )
