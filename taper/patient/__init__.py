"""The patient's pages: Today, the daily log, "I need help now", their records. Only patients
get in."""

from flask import Blueprint

from taper import access
from taper.models import Role

bp = Blueprint("patient", __name__)
access.admit_only(bp, Role.PATIENT)

from taper.patient import records, views  # noqa: E402, F401  (routes on bp)
