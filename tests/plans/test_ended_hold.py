"""Issue 15 item 8: an ended hold is over. A dated hold whose last day has passed in the
patient's time zone no longer shows as current on the plan page, the page offers a new hold
(not "End the hold"), and the service takes one; a hold ending today or later is current.
The page and the POST decide it with the same rule as the patient's Today."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
import time_machine

from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import Role, TaperPlan
from tests.conftest import login_as
from tests.helpers import version_of

# 4 -> 3 -> 2 -> 1 -> 0 mg, a week apart, from Monday 4 January 2027.
WEEKLY = [
    (date(2027, 1, 4), "4", {}, ""),
    (date(2027, 1, 11), "3", {}, ""),
    (date(2027, 1, 18), "2", {}, ""),
    (date(2027, 1, 25), "1", {}, ""),
    (date(2027, 2, 1), "0", {}, "Stopped"),
]
HOLD_UNTIL = date(2027, 1, 14)


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def hold(client, app, clinician, plan_id: int, until: str, moment: datetime):
    """Preview and confirm a hold at ``moment``, as the clinician does, for the patient's
    local day then; returns (preview, confirmation)."""
    with app.app_context():
        day = local_today(moment, db.session.get(TaperPlan, plan_id).patient.timezone)
    data = {"reason": "Reviewed with the patient", "until": until}
    with at(moment):
        login_as(client, clinician)
        data["version"] = str(version_of(app, plan_id))
        preview = client.post(f"/clinician/plans/{plan_id}/hold", data=data)
        done = client.post(
            f"/clinician/plans/{plan_id}/hold",
            data={**data, "confirm": "1", "day": day.isoformat()},
        )
    return preview, done


def page(client, clinician, plan_id: int, moment: datetime) -> str:
    with at(moment):
        login_as(client, clinician)
        return flat(client.get(f"/clinician/plans/{plan_id}").text)


def hold_of(app, plan_id: int) -> tuple[date | None, date | None]:
    with app.app_context():
        revision = db.session.get(TaperPlan, plan_id).current_revision
        return revision.hold_start, revision.hold_until


@pytest.fixture
def held(client, app, clinician, write_plan, make_user):
    """Make a patient in ``timezone`` with the weekly plan held until 14 Jan 2027."""

    def make(timezone: str = "America/New_York") -> int:
        patient = make_user(Role.PATIENT, clinicians=(clinician,), timezone=timezone)
        with at(noon(date(2026, 12, 20))):
            login_as(client, clinician)
            plan_id = write_plan(patient, WEEKLY)
        preview, done = hold(
            client, app, clinician, plan_id, HOLD_UNTIL.isoformat(), noon(date(2027, 1, 4))
        )
        assert (preview.status_code, done.status_code) == (200, 302), flat(done.text)[-1500:]
        assert hold_of(app, plan_id)[1] == HOLD_UNTIL
        return plan_id

    return make


def test_a_hold_that_ended_yesterday_is_not_current_and_a_new_hold_can_be_placed(
    client, app, clinician, held
):
    plan_id = held()
    later = noon(date(2027, 2, 14))  # a month after the hold's last day
    shown = page(client, clinician, plan_id, later)
    assert 'id="current-hold"' not in shown
    assert "End the hold" not in shown
    assert "release-hold" not in shown
    assert '<h2 id="hold-heading">Hold the dose</h2>' in shown
    assert f'action="/clinician/plans/{plan_id}/hold"' in shown
    assert "<dt>Hold</dt>" not in shown  # nothing about it in the "now" facts
    assert "was held until 14 Jan 2027. That is over" in shown
    # The day right after the hold's last day: over too, and the service takes a new hold.
    next_day = date(2027, 1, 15)
    shown = page(client, clinician, plan_id, noon(next_day))
    assert 'id="current-hold"' not in shown
    assert "Hold the dose" in shown
    preview, done = hold(client, app, clinician, plan_id, "2027-01-20", noon(next_day))
    assert preview.status_code == 200, flat(preview.text)[-1500:]
    assert done.status_code == 302
    assert hold_of(app, plan_id) == (next_day, date(2027, 1, 20))
    shown = page(client, clinician, plan_id, noon(next_day))
    assert "held until 20 Jan 2027" in shown
    assert "End the hold" in shown


def test_a_hold_ending_today_is_still_current(client, app, clinician, held):
    plan_id = held()
    shown = page(client, clinician, plan_id, noon(HOLD_UNTIL))
    assert 'id="current-hold"' in shown
    assert "held until 14 Jan 2027" in shown
    assert "Change the hold" in shown
    assert "End the hold" in shown
    assert 'id="ended-hold"' not in shown
    # A hold ending later than today too.
    shown = page(client, clinician, plan_id, noon(date(2027, 1, 10)))
    assert 'id="current-hold"' in shown
    assert "End the hold" in shown


@pytest.mark.parametrize(
    ("timezone", "over"),
    [("Pacific/Auckland", True), ("UTC", False), ("America/Los_Angeles", False)],
)
def test_whether_a_hold_is_over_follows_the_patients_day(
    client, app, clinician, held, timezone, over
):
    """At 11:00 UTC on 14 Jan it is already 15 Jan in Auckland (the hold is over there) and
    still 14 Jan in London and Los Angeles: the page and the release POST agree."""
    plan_id = held(timezone)
    moment = datetime(2027, 1, 14, 11, tzinfo=UTC)
    shown = page(client, clinician, plan_id, moment)
    assert ('id="current-hold"' in shown) is not over
    assert ("End the hold" in shown) is not over
    with at(moment):
        login_as(client, clinician)
        data = {"reason": "Ending it", "version": str(version_of(app, plan_id))}
        release = client.post(f"/clinician/plans/{plan_id}/release-hold", data=data)
        if over:
            assert release.status_code == 302
            assert "This plan is not on hold." in flat(client.get(release.location).text)
        else:
            assert release.status_code == 200  # the new dates, to confirm


def test_the_patients_today_agrees_that_the_hold_is_over(client, app, held):
    plan_id = held()
    with app.app_context():
        patient = db.session.get(TaperPlan, plan_id).patient
        db.session.expunge(patient)
    with at(noon(date(2027, 1, 10))):  # inside the hold: held at 4 mg
        login_as(client, patient)
        during = flat(client.get("/today").text)
    with at(noon(date(2027, 1, 15))):  # the day after its last day: the next typed step
        login_as(client, patient)
        after = flat(client.get("/today").text)
    assert "keeping you on this dose until Thursday 14 January 2027" in during
    assert "<strong>4 mg</strong> in total" in during
    assert "keeping you on this dose" not in after
    assert "<strong>3 mg</strong> in total" in after


def test_a_pause_that_ended_shows_as_past(client, app, clinician, write_plan, make_user):
    patient = make_user(Role.PATIENT, clinicians=(clinician,), timezone="UTC")
    with at(noon(date(2026, 12, 20))):
        login_as(client, clinician)
        plan_id = write_plan(patient, WEEKLY)
    url = f"/clinician/plans/{plan_id}/status"
    for day, status in ((date(2027, 1, 5), "paused"), (date(2027, 1, 8), "active")):
        with at(noon(day)):
            login_as(client, clinician)
            data = {"status": status, "reason": "Away", "version": str(version_of(app, plan_id))}
            assert client.post(url, data=data).status_code == 200
            done = client.post(url, data={**data, "confirm": "1", "day": day.isoformat()})
            assert done.status_code == 302
    assert hold_of(app, plan_id) == (date(2027, 1, 5), date(2027, 1, 7))
    shown = page(client, clinician, plan_id, noon(date(2027, 1, 8)))
    assert 'id="current-hold"' not in shown
    assert "Earlier pause (over)" in shown
    assert "Paused from 5 Jan 2027 to 7 Jan 2027. That is over" in shown
    assert "Hold the dose" in shown
