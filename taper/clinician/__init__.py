"""The clinician's pages: the care team, each patient, plans and their timeline, alerts,
visit assessments. Only clinicians get in."""

from flask import Blueprint

from taper import access
from taper.models import Role

bp = Blueprint("clinician", __name__, url_prefix="/clinician")
access.admit_only(bp, Role.CLINICIAN)

from taper.clinician import care, details, exports, plans, views  # noqa: E402, F401  (routes on bp)
