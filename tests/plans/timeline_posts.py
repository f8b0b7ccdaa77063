"""Posting a hold, release, pause or resume as a clinician does: the first post shows the new
dates (saves nothing), the confirmed post saves them for the patient's day it was shown for."""

from __future__ import annotations

from tests.helpers import patient_today


def confirmed(client, url: str, patient, **data):
    """Post the confirmed form (the second step), for the patient's local today."""
    form = {"confirm": "1", "day": patient_today(patient).isoformat(), **data}
    return client.post(url, data=form)
