"""Landing and health endpoints."""

from flask import Blueprint, jsonify, redirect, url_for
from flask_login import current_user

from taper.models import Role
from taper.services import health as health_service

bp = Blueprint("main", __name__)

HOME_BY_ROLE = {
    Role.PATIENT: "patient.today",
    Role.CLINICIAN: "clinician.patients",
    Role.ADMIN: "admin.accounts",
}


@bp.get("/")
def home():
    """Send each user to the first page of their role."""
    return redirect(url_for(HOME_BY_ROLE[current_user.role]))


@bp.get("/ping")
def ping():
    """Liveness only (no database): also the bare baseline the benchmarks compare against."""
    return "ok", 200, {"Content-Type": "text/plain"}


@bp.get("/health")
def health():
    """Liveness and database check for load balancers."""
    health_service.check_database()
    return jsonify(status="ok")
