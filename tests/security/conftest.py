"""The world the security grids call every route with: a patient with her records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models import Alert, Role, User
from taper.services import accounts
from tests.conftest import login_as
from tests.helpers import (
    HOLD_REASON,
    LOG_NOTE,
    MEDICATION,
    STEP_NOTE,
    VICTIM_EMAIL,
    VICTIM_NAME,
    VISIT_NOTE,
    World,
    fill_log,
    patient_today,
    version_of,
)


@pytest.fixture
def world(app, client, clinician, make_user, write_plan) -> World:
    """A patient on Dr Quinn's care team with an active plan on hold, a visit assessment, a
    logged day and an open alert, each made the way the app makes them; and a patient on
    nobody's care team yet. The client is left signed in as the patient."""
    victim = make_user(Role.PATIENT, name=VICTIM_NAME, email=VICTIM_EMAIL, clinicians=(clinician,))
    today = patient_today(victim)
    login_as(client, clinician)
    plan_id = write_plan(
        victim,
        [
            (today - timedelta(days=20), "10", {}, ""),
            (today - timedelta(days=3), "7.5", {}, STEP_NOTE),
            (today + timedelta(days=11), "5", {}, ""),
        ],
        medication=MEDICATION,
    )
    response = client.post(
        f"/clinician/plans/{plan_id}/hold",
        data={
            "reason": HOLD_REASON,
            "until": "",
            "version": str(version_of(app, plan_id)),
            "confirm": "1",
            "day": today.isoformat(),
        },
    )
    assert response.status_code == 302
    response = client.post(
        f"/clinician/patients/{victim.id}/assessments/new",
        data={**{item.key: "1" for item in CIWA_B.items}, "note": VISIT_NOTE},
    )
    assert response.status_code == 302
    login_as(client, victim)
    # A high score raises a review alert (no urgent e-mail is attempted).
    response = client.post("/log", data=fill_log(client, today, score=3, note=LOG_NOTE))
    assert response.status_code == 302
    with app.app_context():
        alert_id = db.session.scalars(select(Alert.id).where(Alert.patient_id == victim.id)).one()
    newcomer = make_user(Role.PATIENT, name="Nell Newcomer")
    with app.app_context():
        token = accounts.make_set_password_token(db.session.get(User, newcomer.id))
    return World(
        patient=victim,
        clinician=clinician,
        newcomer=newcomer,
        token=token,
        plan_id=plan_id,
        alert_id=alert_id,
        day=today,
    )
