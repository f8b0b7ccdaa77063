"""The admin's pages: accounts, care-team links and the account audit trail. Admins see no
clinical data."""

from flask import Blueprint

from taper import access
from taper.models import Role

bp = Blueprint("admin", __name__, url_prefix="/admin")
access.admit_only(bp, Role.ADMIN)

from taper.admin import jobs, views  # noqa: E402, F401  (routes on bp)
