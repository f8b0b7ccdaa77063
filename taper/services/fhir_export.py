"""A patient's taper record as one FHIR R4B Bundle (``application/fhir+json``), for an EHR.

Work in progress: only the Patient so far (the API below is final)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from taper.models import User

MEDIA_TYPE = "application/fhir+json"


def bundle_chunks(patient: User, *, include_drafts: bool) -> Iterator[bytes]:
    """The Bundle as UTF-8 JSON, in pieces (one entry at a time), for a streamed download.
    ``include_drafts``: the clinician's draft plans too (never in the patient's own copy)."""
    patient_entry = {
        "fullUrl": f"urn:taper:patient:{patient.id}",
        "resource": {"resourceType": "Patient", "id": f"patient-{patient.id}"},
    }
    yield b'{"resourceType":"Bundle","type":"collection","entry":['
    yield json.dumps(patient_entry).encode()
    yield b"]}"


def bundle(patient: User, *, include_drafts: bool) -> dict[str, Any]:
    """The whole Bundle as a dict (tests, and callers that need it in memory)."""
    return json.loads(b"".join(bundle_chunks(patient, include_drafts=include_drafts)))


def care_team_zip_chunks(clinician: User) -> Iterator[bytes]:
    """A ZIP of one Bundle per patient on the clinician's care team (``patient-<id>.json``),
    in pieces, for a streamed download."""
    raise NotImplementedError
