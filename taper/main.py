"""Landing, health and metrics endpoints."""

from flask import Blueprint, jsonify, redirect, request, url_for
from flask_login import current_user

from taper import access
from taper.models import Role
from taper.services import health as health_service
from taper.services import metrics as metrics_service

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


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers (no database, no Redis), for a supervisor's restarts."""
    return "ok", 200, {"Content-Type": "text/plain"}


@bp.get("/readyz")
def readyz():
    """Readiness: the database and (when configured) Redis answer; 503 naming the one that
    does not, so a load balancer sends no traffic here meanwhile."""
    ready, checks = health_service.readiness()
    return jsonify(status="ok" if ready else "failing", checks=checks), 200 if ready else 503


@bp.get("/health")
def health():
    """Liveness and database check for load balancers (kept; /readyz says more)."""
    health_service.check_database()
    return jsonify(status="ok")


@bp.get("/metrics")
def metrics():
    """Prometheus metrics, for a signed-in admin or a scraper with the metrics token."""
    if not metrics_service.may_read(current_user, request.headers.get("Authorization", "")):
        access.deny(403 if current_user.is_authenticated else 404)
    return metrics_service.render(), 200, {"Content-Type": metrics_service.CONTENT_TYPE}
