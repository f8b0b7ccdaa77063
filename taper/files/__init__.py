"""Files both roles download: chart images and the visit report PDF. Patients and clinicians
get in; every route loads its patient through ``access.patient_or_404``."""

from flask import Blueprint

from taper import access
from taper.models import Role

bp = Blueprint("files", __name__)
access.admit_only(bp, Role.PATIENT, Role.CLINICIAN)

from taper.files import views  # noqa: E402, F401  (routes on bp)
