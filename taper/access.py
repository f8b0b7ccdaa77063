"""Who may see what: the one place access is decided (DESIGN non-negotiable 4).

- Deny by default: every endpoint needs a signed-in user unless listed in PUBLIC_ENDPOINTS.
- Each blueprint admits its roles (``admit_only``).
- Every view that takes a patient id loads it through ``patient_or_404``: a patient sees only
  themself, a clinician only their care team, an admin no clinical data. Anything else is a
  404, so a forgotten check is never a leak and ids cannot be probed.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from flask import Blueprint, abort, g, jsonify, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import exists, select

from taper import kept_reports
from taper.extensions import db, login_manager
from taper.models import Alert, CareTeamLink, PlanStatus, Role, TaperPlan, User

log = logging.getLogger(__name__)
T = TypeVar("T", Alert, TaperPlan)

PUBLIC_ENDPOINTS = frozenset(
    {"static", "auth.login", "auth.login_code", "auth.set_password", "main.health", "main.ping"}
    | {"main.healthz", "main.readyz", "main.metrics"}  # /metrics checks its own admin or token
)


def wants_json() -> bool:
    """API clients get JSON errors; people get pages."""
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def enforce_login():
    """App-wide before_request: anonymous users reach only the public endpoints."""
    if request.routing_exception is not None:
        return None  # no such page (404/405) or a refused Host (400): nothing to protect
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    # A red flag from someone not signed in (no session at all, or one no longer valid)
    # shows urgent care and is kept on the device until they log in (SECURITY.md F9).
    rescued = kept_reports.rescue(kept_reports.session_user_id())
    if rescued is not None:
        return rescued
    if wants_json():
        return jsonify(error="unauthorized", message="Log in first."), 401
    if request.method == "GET":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.login"))


def treat_as_anonymous() -> None:
    """Nobody is signed in for the rest of this request: its pages then read no user from
    the database (Flask-Login keeps the loaded user in ``g._login_user``)."""
    g._login_user = login_manager.anonymous_user()


def deny(code: int) -> None:
    """Refuse, and log it as a security event (SECURITY.md D4): who, where, which id; never
    names or health data. Ids and endpoints are plain, so no newline reaches the log."""
    log.warning(
        "access denied status=%s user=%s role=%s endpoint=%s ids=%s",
        code,
        getattr(current_user, "id", None),
        getattr(getattr(current_user, "role", None), "value", None),
        request.endpoint,
        {k: v for k, v in (request.view_args or {}).items() if isinstance(v, int)},
    )
    abort(code)


def require_role(*roles: Role) -> None:
    """For a view inside a blueprint shared by several roles: 403 for any other role."""
    if current_user.role not in roles:
        deny(403)


def admit_only(blueprint: Blueprint, *roles: Role) -> None:
    """Let only users of the given roles into a blueprint (403 for the others)."""

    @blueprint.before_request
    def _check_role():
        if not current_user.is_authenticated:
            return enforce_login()
        if current_user.role not in roles:
            deny(403)
        return None


def is_on_care_team(clinician_id: int, patient_id: int) -> bool:
    """True when the clinician is on the patient's care team."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    CareTeamLink.clinician_id == clinician_id,
                    CareTeamLink.patient_id == patient_id,
                )
            )
        )
    )


def can_see_patient(user: User, patient: User) -> bool:
    """May this user see this patient's clinical data?"""
    if not user.is_authenticated or not user.active or patient.role is not Role.PATIENT:
        return False
    if user.role is Role.PATIENT:
        return user.id == patient.id
    if user.role is Role.CLINICIAN:
        return is_on_care_team(user.id, patient.id)
    return False  # admins manage accounts, not clinical data


def patient_or_404(user: User, patient_id: int) -> User:
    """Load a patient the user may see, or 404."""
    patient = db.session.get(User, patient_id)
    if patient is None or not can_see_patient(user, patient):
        deny(404)
    return patient


def account_or_404(user: User, account_id: int) -> User:
    """Load an account for account management (admins only), or 404."""
    account = db.session.get(User, account_id)
    if account is None or user.role is not Role.ADMIN:
        deny(404)
    return account


def _of_patient_or_404(user: User, model: type[T], object_id: int) -> T:
    """Load a row that belongs to a patient (``patient_id``) the user may see, or 404."""
    found = db.session.get(model, object_id)
    if found is None:
        deny(404)
    patient_or_404(user, found.patient_id)
    return found


def plan_or_404(user: User, plan_id: int) -> TaperPlan:
    """Load a taper plan whose patient the user may see, or 404 (patients never see drafts)."""
    plan = _of_patient_or_404(user, TaperPlan, plan_id)
    if user.role is Role.PATIENT and plan.status is PlanStatus.DRAFT:
        deny(404)
    return plan


def alert_or_404(user: User, alert_id: int) -> Alert:
    """Load an alert about a patient the user may see, or 404."""
    return _of_patient_or_404(user, Alert, alert_id)
