"""The patient's days, wherever the reader is: Today's week, the report's missed days,
the day's log page, and which zones a person may live in."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from taper.extensions import db
from taper.models import Alert, AlertStatus, Role, User
from taper.services import progress
from tests.charts.stored import store_log, store_plan
from tests.conftest import login_as


def test_the_report_does_not_count_today_as_missed_before_it_is_over(app, clinician, patient):
    """At 08:00 in New York the patient's day has just begun: it is not a missed day yet
    (the missed-logs alert rule only counts whole days before today)."""
    morning = datetime(2026, 3, 5, 13, 0, tzinfo=UTC)  # 08:00 EST, 5 March
    today = date(2026, 3, 5)
    store_plan(app, patient, clinician, [(date(2026, 2, 1), "10")])
    for back in range(1, 28):
        store_log(app, patient, today - timedelta(days=back), [])
    with time_machine.travel(morning, tick=False), app.app_context():
        data = progress.report_data(db.session.get(User, patient.id))
    assert today not in data.missed
    assert data.today_open


def test_a_days_page_says_whose_day_and_whose_times_to_a_clinician_elsewhere(
    app, client, make_user, clinician
):
    """A help report the Auckland patient sent on 5 March at 10:00 is listed on the page of
    5 March; a New York clinician reads it as sent '4 Mar 2026, 16:00', with no zone named."""
    patient = make_user(Role.PATIENT, timezone="Pacific/Auckland", clinicians=(clinician,))
    moment = datetime(2026, 3, 4, 21, 0, tzinfo=UTC)  # 10:00 NZDT 5 March, 16:00 EST 4 March
    with time_machine.travel(moment, tick=False):
        login_as(client, patient)
        r = client.post("/help", data={"red_flags": "seizure", "submission_id": "a" * 32})
        assert r.status_code == 200
        login_as(client, clinician)
        page = client.get(f"/clinician/patients/{patient.id}/logs/2026-03-05").get_data(
            as_text=True
        )
    assert "Sent on this day" in page
    # Times are the reader's, as on every page; the page says why one is on another date.
    assert "4 Mar 2026, 16:00" in page
    assert (
        "The day is the patient's (Pacific/Auckland); times are yours (America/New York), so "
        "one may fall on another date." in page
    )


def test_todays_week_of_urgent_reports_is_the_patients_week(app, client, make_user, clinician):
    """Today mentions the latest urgent report 'of the last week' (since day - 7). For a
    Kiritimati patient (UTC+14) an urgent alert acknowledged, raised at 08:00 on their day - 7,
    falls before UTC midnight of that date and is left out."""
    patient = make_user(Role.PATIENT, timezone="Pacific/Kiritimati", clinicians=(clinician,))
    raised = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 08:00 on 3 March in Kiritimati
    with app.app_context():
        db.session.add(
            Alert(
                patient_id=patient.id,
                kind="red_flag",
                tier="urgent",
                reason="x",
                status=AlertStatus.ACKNOWLEDGED,
                acknowledged_at=raised + timedelta(hours=1),
                acknowledged_by_id=clinician.id,
                created_at=raised,
            )
        )
        db.session.commit()
    now = datetime(2026, 3, 9, 20, 0, tzinfo=UTC)  # 10:00 on 10 March in Kiritimati
    with time_machine.travel(now, tick=False):
        login_as(client, patient)
        page = client.get("/today").get_data(as_text=True)
    assert "Your care team saw your urgent report" in page


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules"])
def test_a_zone_that_is_not_a_place_cannot_be_chosen(app, zone):
    """ "localtime" is each server's own zone: two servers could give one patient two days."""
    from taper.forms import timezone_choices
    from taper.services import ServiceError, accounts

    assert zone not in {choice.value for choice in timezone_choices()}
    with app.app_context(), pytest.raises(ServiceError, match="time zone"):
        accounts.create_user(
            None, email="z@example.org", name="Zed", role=Role.PATIENT, timezone=zone
        )
