"""Admin: accounts and care-team assignments. No clinical data is shown here."""

from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from wtforms import SelectChoice

from taper import access
from taper.admin import bp
from taper.admin.forms import AssignForm, NewAccountForm
from taper.auth.views import issue_link_page, set_password_link_page
from taper.extensions import db
from taper.models import AuditEvent, CareTeamLink, Role, User
from taper.services import ServiceError, accounts
from taper.web import id_arg

log = logging.getLogger(__name__)
# The audit page shows actions on accounts only (an allow-list: a new clinical event name never
# shows up here by accident). Clinical events (plan.*, log.*, alert.*, patient.view ...) are
# the care team's business, not an admin's (DESIGN.md: admins read no clinical data).
ACCOUNT_ACTION_PREFIXES = ("user.", "care_team.", "auth.", "2fa.")
# Rows written before "user.password_link" existed, for a link a clinician issued.
ACCOUNT_ACTIONS = ("patient.new_link",)


def _assign_form() -> AssignForm:
    form = AssignForm()
    users = db.session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.name, User.id)
    ).all()
    form.clinician.choices = [
        SelectChoice(u.id, f"{u.name} ({u.email})") for u in users if u.role is Role.CLINICIAN
    ]
    form.patient.choices = [
        SelectChoice(u.id, f"{u.name} ({u.email})") for u in users if u.role is Role.PATIENT
    ]
    return form


def _render_accounts(new_form: NewAccountForm, assign_form: AssignForm, status: int = 200):
    users = db.session.scalars(select(User).order_by(User.role, User.name, User.id)).all()
    links = db.session.execute(select(CareTeamLink.clinician_id, CareTeamLink.patient_id)).all()
    names = {u.id: u.name for u in users}
    teams: dict[int, list[str]] = {}
    for clinician_id, patient_id in links:
        teams.setdefault(patient_id, []).append(names[clinician_id])
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
    form = NewAccountForm(timezone=current_app.config["DEFAULT_TIMEZONE"])
    return _render_accounts(form, _assign_form())


@bp.post("/accounts/new")
def create_account():
    """Create an account and show its one-time set-password link."""
    form = NewAccountForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                current_user,
                email=form.email.data,
                name=form.name.data,
                role=Role(form.role.data),
                timezone=form.timezone.data,
            )
            token = accounts.first_set_password_link(current_user, user)
        except ServiceError as error:
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            db.session.commit()
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
    """Switch an account off; its sessions end at once."""
    user = access.account_or_404(current_user, user_id)
    if user.id == current_user.id:
        flash("You cannot deactivate your own account.")
        return redirect(url_for("admin.accounts"))
    accounts.deactivate_user(current_user, user)
    db.session.commit()
    flash(f"{user.name} can no longer log in.")
    return redirect(url_for("admin.accounts"))


@bp.post("/care-team")
def assign():
    """Put a patient on a clinician's care team."""
    form = _assign_form()
    if form.validate_on_submit():
        clinician = access.account_or_404(current_user, form.clinician.data)
        patient = access.account_or_404(current_user, form.patient.data)
        try:
            accounts.add_to_care_team(current_user, clinician, patient)
        except ServiceError as error:
            form.patient.errors.append(error.message)
        else:
            db.session.commit()
            flash(f"{patient.name} is now on {clinician.name}'s care team.")
            return redirect(url_for("admin.accounts"))
    new_form = NewAccountForm(formdata=None, timezone=current_app.config["DEFAULT_TIMEZONE"])
    return _render_accounts(new_form, form, 400)


AUDIT_PAGE_SIZE = 200


def _account_action():
    return or_(
        AuditEvent.action.in_(ACCOUNT_ACTIONS),
        *(AuditEvent.action.startswith(p, autoescape=True) for p in ACCOUNT_ACTION_PREFIXES),
    )


@bp.get("/audit")
def audit_trail():
    """Who did what to which account, and when (newest first); no clinical events."""
    patients = db.session.scalars(
        select(User).where(User.role == Role.PATIENT).order_by(User.name, User.id)
    ).all()
    chosen = id_arg("patient")
    query = (
        select(AuditEvent)
        .where(_account_action())
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    )
    if chosen:
        query = query.where(AuditEvent.patient_id == chosen)
    events = db.session.scalars(query.limit(AUDIT_PAGE_SIZE)).all()
    ids = {e.actor_id for e in events} | {e.patient_id for e in events}
    ids |= {e.object_id for e in events if e.object_type == "user"}
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    return render_template(
        "admin/audit.html",
        events=events,
        people=people,
        patients=patients,
        chosen=chosen,
        limit=AUDIT_PAGE_SIZE,
    )
