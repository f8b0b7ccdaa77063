"""Clinician downloads: one file of a patient's record on the care team (FHIR or CSV, with
draft plans), or every care-team patient's FHIR record in one ZIP. Thin routes over
``services/records.py``; the response is built as for the patient's own downloads."""

from __future__ import annotations

from flask_login import current_user

from taper import access
from taper.clinician import bp
from taper.patient.records import refuse_head, send
from taper.services import records


@bp.get("/patients/<int:patient_id>/export/<name>")
def patient_export(patient_id: int, name: str):
    """Download one file of a care-team patient's record (FHIR for another system, or CSV)."""
    refuse_head()
    patient = access.patient_or_404(current_user, patient_id)
    return send(records.export_file(current_user, patient, name))


@bp.get("/patients/export.zip")
def care_team_export():
    """Download every care-team patient's record as FHIR files in one ZIP."""
    refuse_head()
    return send(records.care_team_export(current_user))
