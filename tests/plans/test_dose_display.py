"""Every dose a page shows is one the clinician typed (DESIGN non-negotiable 1)."""

import re
from datetime import UTC, date, datetime

import pytest
import time_machine

from tests.conftest import login_as
from tests.helpers import plan_form, version_of

TYPED = [
    (date(2026, 3, 1), "12.5", {"morning": "5", "bedtime": "7.5"}, "Take with food"),
    (date(2026, 3, 8), "11.25", {}, ""),  # across the US daylight-saving change
    (date(2026, 3, 29), "10", {}, ""),  # across the UK change
    (date(2026, 4, 19), "0", {}, "Stopped"),
]
TYPED_DOSES = {"12.5", "5", "7.5", "11.25", "10", "0"}
UNSIGNED_MG = re.compile(r"(?<![−+\d.])(\d+(?:\.\d+)?) mg")


def shown_doses(page: str) -> set[str]:
    """Unsigned 'N mg' amounts on a page (signed ones are the clinician's change facts)."""
    text = re.sub(r"<[^>]+>", " ", page)
    return set(UNSIGNED_MG.findall(text))


@pytest.fixture
def plan_id(client, app, clinician, patient, write_plan):
    login_as(client, clinician)
    plan_id = write_plan(patient, TYPED)
    client.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(TYPED, reason="Same steps", version=version_of(app, plan_id)),
    )
    return plan_id


def test_no_page_shows_a_dose_the_clinician_did_not_type(client, patient, clinician, plan_id):
    pages = []
    for day in (
        date(2026, 2, 27),
        date(2026, 3, 1),
        date(2026, 3, 8),
        date(2026, 3, 30),
        date(2026, 4, 19),
        date(2026, 5, 1),
    ):
        with time_machine.travel(
            datetime(day.year, day.month, day.day, 12, tzinfo=UTC), tick=False
        ):
            login_as(client, patient)
            pages.append(client.get("/today").get_data(as_text=True))
            login_as(client, clinician)
            pages.append(client.get(f"/clinician/plans/{plan_id}").get_data(as_text=True))
            pages.append(client.get(f"/clinician/plans/{plan_id}/revisions").get_data(as_text=True))
            pages.append(client.get(f"/clinician/plans/{plan_id}/edit").get_data(as_text=True))
    for page in pages:
        assert shown_doses(page) <= TYPED_DOSES
    values = set()
    for page in pages:
        values |= set(
            re.findall(
                r'name="steps-\d+-(?:total|morning|midday|evening|bedtime)" '
                r'type="text" value="([^"]*)"',
                page,
            )
        )
    assert values - {""} <= TYPED_DOSES


@pytest.mark.parametrize(
    ("utc", "zone", "expected"),
    [
        # 23:30 UTC on 7 March is still 7 March in New York: the 12.5 mg step.
        (datetime(2026, 3, 7, 23, 30, tzinfo=UTC), "America/New_York", "12.5 mg"),
        # 07:30 UTC on 8 March is 03:30 EDT (after the 02:00 jump): the 11.25 mg step.
        (datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "America/New_York", "11.25 mg"),
        # 11:30 UTC on 7 March is already 8 March in Auckland.
        (datetime(2026, 3, 7, 11, 30, tzinfo=UTC), "Pacific/Auckland", "11.25 mg"),
        # UK clocks change on 29 March: 00:30 UTC is 01:30 BST on 29 March.
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Europe/London", "10 mg"),
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "Europe/London", "11.25 mg"),
    ],
)
def test_today_uses_the_patients_calendar_day(
    client, make_user, clinician, write_plan, utc, zone, expected
):
    patient = make_user(timezone=zone, clinicians=(clinician,))
    login_as(client, clinician)
    write_plan(patient, TYPED)
    with time_machine.travel(utc, tick=False):
        login_as(client, patient)
        page = client.get("/today").get_data(as_text=True)
    today = re.search(r'<p class="dose-today"><strong>(.*?)</strong>', page).group(1)
    assert today == expected


def test_today_shows_split_note_and_next_change(client, clinician, patient, plan_id):
    with time_machine.travel(datetime(2026, 3, 3, 15, tzinfo=UTC), tick=False):
        login_as(client, patient)
        page = client.get("/today").get_data(as_text=True)
    assert "Morning: <strong>5 mg</strong>" in page
    assert "Bedtime: <strong>7.5 mg</strong>" in page
    assert "Take with food" in page
    assert "Next change: <strong>11.25 mg</strong> from Sunday 8 March 2026." in page


def test_change_notice_dates_are_in_the_patients_time_zone(
    client, app, clinician, patient, write_plan
):
    """Saved at 23:30 on 9 March in New York (03:30 UTC on the 10th): "on 9 Mar"."""
    late_evening = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    with time_machine.travel(late_evening, tick=False):
        login_as(client, clinician)
        plan_id = write_plan(patient, TYPED)
        changed = client.post(
            f"/clinician/plans/{plan_id}/edit",
            data=plan_form(TYPED, reason="Late change", version=version_of(app, plan_id)),
        )
        assert changed.status_code == 302
    with time_machine.travel(datetime(2026, 3, 10, 14, tzinfo=UTC), tick=False):
        login_as(client, patient)
        page = client.get("/today").text
    assert patient.timezone == "America/New_York"
    assert "on 9 Mar 2026, reason: Late change." in page
