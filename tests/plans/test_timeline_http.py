"""The timeline through HTTP: holds and pauses move the later steps (shown before saving,
saved as a revision), releases take effect the next day, a plan never runs out into silence,
and far dates are refused without breaking any page."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from taper.extensions import db
from taper.models import PlanRevision, PlanStatus, TaperPlan, TaperStep
from tests.conftest import login_as
from tests.helpers import plan_form, version_of
from tests.plans.timeline_posts import confirmed

# The example: 4 -> 3 -> 2 -> 1 -> 0 mg, a week apart, from Monday 4 January 2027.
WEEKLY = [
    (date(2027, 1, 4), "4", {}, ""),
    (date(2027, 1, 11), "3", {}, ""),
    (date(2027, 1, 18), "2", {}, ""),
    (date(2027, 1, 25), "1", {}, ""),
    (date(2027, 2, 1), "0", {}, "Stopped"),
]


def at(day: date, hour: int = 15):
    return time_machine.travel(datetime(day.year, day.month, day.day, hour, tzinfo=UTC), tick=False)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def today_page(client, patient, day: date) -> str:
    with at(day):
        login_as(client, patient)
        return flat(client.get("/today").text)


def dose_today(page: str) -> str | None:
    found = re.search(r'<p class="dose-today"><strong>(.*?)</strong>', page)
    return found.group(1) if found else None


def revision_of(app, plan_id: int) -> PlanRevision:
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        revision = plan.current_revision
        db.session.expunge_all()
        return revision


def steps_of(app, plan_id: int) -> list[tuple[date, Decimal]]:
    with app.app_context():
        revision = db.session.get(TaperPlan, plan_id).current_revision
        return [(s.start_date, s.total) for s in revision.steps]


@pytest.fixture
def weekly(client, app, clinician, write_plan, patient):
    with at(date(2026, 12, 20)):
        login_as(client, clinician)
        return write_plan(patient, WEEKLY)


def act(client, app, clinician, patient, plan_id, day, url, **data):
    """Preview then confirm, as the clinician does, on ``day``."""
    with at(day):
        login_as(client, clinician)
        data.setdefault("reason", "Reviewed with the patient")
        data["version"] = version_of(app, plan_id)
        preview = client.post(f"/clinician/plans/{plan_id}/{url}", data=data)
        assert preview.status_code == 200, flat(preview.text)[-2000:]
        assert version_of(app, plan_id) == data["version"]  # the preview saves nothing
        done = confirmed(client, f"/clinician/plans/{plan_id}/{url}", patient, **data)
        assert done.status_code == 302, flat(done.text)[-2000:]
        return flat(preview.text)


def test_a_two_week_hold_resumes_at_the_next_typed_step(client, app, clinician, patient, weekly):
    preview = act(
        client, app, clinician, patient, weekly, date(2027, 1, 4), "hold", until="2027-01-17"
    )
    assert "3 mg will start on 18 Jan 2027</strong> instead of 11 Jan 2027" in preview
    assert steps_of(app, weekly) == [
        (date(2027, 1, 4), Decimal("4")),
        (date(2027, 1, 18), Decimal("3")),
        (date(2027, 1, 25), Decimal("2")),
        (date(2027, 2, 1), Decimal("1")),
        (date(2027, 2, 8), Decimal("0")),
    ]
    held = today_page(client, patient, date(2027, 1, 12))
    assert dose_today(held) == "4 mg"
    assert "keeping you on this dose until Sunday 17 January 2027" in held
    assert "Next change: <strong>3 mg</strong> from Monday 18 January 2027." in held
    assert dose_today(today_page(client, patient, date(2027, 1, 18))) == "3 mg"  # never 2 mg
    # The move is a revision with its author, time and reason; the compare page shows it.
    revision = revision_of(app, weekly)
    assert (revision.number, revision.reason, revision.author_id) == (
        2,
        "Reviewed with the patient",
        clinician.id,
    )
    with at(date(2027, 1, 5)):
        login_as(client, clinician)
        compare = flat(client.get(f"/clinician/plans/{weekly}/revisions?a=1&b=2").text)
    assert "3 mg from 11 Jan 2027 to 18 Jan 2027" in compare
    assert "later steps moved 7 days" in compare


def test_an_open_hold_says_so_and_its_release_takes_effect_tomorrow(
    client, app, clinician, patient, weekly
):
    act(client, app, clinician, patient, weekly, date(2027, 1, 13), "hold", until="")
    page = today_page(client, patient, date(2027, 2, 3))  # past every typed date
    assert dose_today(page) == "3 mg"
    assert "until they review your plan" in page
    assert "Next step: <strong>2 mg</strong>, once your clinician ends the hold." in page
    assert "no later step" not in page
    assert "Ask your clinician what to take" not in page
    preview = act(client, app, clinician, patient, weekly, date(2027, 2, 3), "release-hold")
    assert "2 mg will start on 4 Feb 2027</strong> instead of 18 Jan 2027" in preview
    assert dose_today(today_page(client, patient, date(2027, 2, 3))) == "3 mg"  # not mid-day
    assert dose_today(today_page(client, patient, date(2027, 2, 4))) == "2 mg"
    assert dose_today(today_page(client, patient, date(2027, 2, 11))) == "1 mg"


def test_ending_a_dated_hold_early_never_shortens_a_typed_step(
    client, app, clinician, patient, weekly
):
    act(client, app, clinician, patient, weekly, date(2027, 1, 5), "hold", until="2027-01-30")
    assert steps_of(app, weekly)[1][0] == date(2027, 1, 31)
    act(client, app, clinician, patient, weekly, date(2027, 1, 6), "release-hold")
    assert [d for d, _ in steps_of(app, weekly)] == [d for d, _, _, _ in WEEKLY]


def test_changing_a_hold_in_force_moves_its_end(client, app, clinician, patient, weekly):
    act(client, app, clinician, patient, weekly, date(2027, 1, 5), "hold", until="2027-01-14")
    with at(date(2027, 1, 6)):
        login_as(client, clinician)
        page = flat(client.get(f"/clinician/plans/{weekly}").text)
    assert "Change the hold" in page
    assert "End the hold" in page
    act(client, app, clinician, patient, weekly, date(2027, 1, 6), "hold", until="2027-01-20")
    assert steps_of(app, weekly)[1][0] == date(2027, 1, 21)
    revision = revision_of(app, weekly)
    assert (revision.hold_start, revision.hold_until) == (date(2027, 1, 5), date(2027, 1, 20))


def test_pause_freezes_and_resume_moves_later_steps_by_the_days_paused(
    client, app, clinician, patient, weekly
):
    act(client, app, clinician, patient, weekly, date(2027, 1, 13), "status", status="paused")
    with app.app_context():
        assert db.session.get(TaperPlan, weekly).status is PlanStatus.PAUSED
    page = today_page(client, patient, date(2027, 1, 30))
    assert dose_today(page) == "3 mg"
    assert "paused this plan" in page
    assert "Next step: <strong>2 mg</strong>, once your clinician restarts the plan." in page
    preview = act(
        client, app, clinician, patient, weekly, date(2027, 1, 23), "status", status="active"
    )
    assert "Paused from 13 Jan 2027: 10 days." in preview
    # 3 mg had 5 days left on 13 Jan (13-17): it has them from 23 Jan, then 2 mg on 28 Jan.
    assert [d for d, _ in steps_of(app, weekly)][2:] == [
        date(2027, 1, 28),
        date(2027, 2, 4),
        date(2027, 2, 11),
    ]
    assert dose_today(today_page(client, patient, date(2027, 1, 27))) == "3 mg"
    assert dose_today(today_page(client, patient, date(2027, 1, 28))) == "2 mg"


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        ({"url": "hold"}, {"url": "status", "status": "paused"}, "End the hold first"),
        ({"url": "status", "status": "paused"}, {"url": "hold"}, "Only an active plan"),
        (None, {"url": "release-hold"}, "This plan is not on hold."),
    ],
    ids=["pause-while-held", "hold-while-paused", "release-without-hold"],
)
def test_timeline_changes_that_cannot_be_made_are_refused_clearly(
    client, app, clinician, patient, weekly, first, then, message
):
    day = date(2027, 1, 6)
    if first:
        url = first.pop("url")
        act(client, app, clinician, patient, weekly, day, url, **first)
    before = version_of(app, weekly)
    url = then.pop("url")
    with at(day):
        login_as(client, clinician)
        data = {**then, "reason": "x", "version": before}
        response = client.post(f"/clinician/plans/{weekly}/{url}", data=data)
        assert response.status_code == 302
        assert message in flat(client.get(f"/clinician/plans/{weekly}").text)
        confirmed(client, f"/clinician/plans/{weekly}/{url}", patient, **data)
    assert version_of(app, weekly) == before


def test_a_reason_is_required_and_the_preview_keeps_what_was_typed(
    client, app, clinician, patient, weekly
):
    before = version_of(app, weekly)
    with at(date(2027, 1, 6)):
        login_as(client, clinician)
        data = {"until": "2027-01-20", "reason": "  ", "version": before}
        refused = confirmed(client, f"/clinician/plans/{weekly}/hold", patient, **data)
    assert refused.status_code == 400
    text = flat(refused.text)
    assert "Say why the plan is changing." in text
    assert 'name="until" value="2027-01-20"' in text
    assert version_of(app, weekly) == before


def test_a_confirm_from_yesterdays_preview_shows_the_dates_again(
    client, app, clinician, patient, weekly
):
    before = version_of(app, weekly)
    with at(date(2027, 1, 6)):
        login_as(client, clinician)
        data = {"until": "2027-01-20", "reason": "x", "version": before}
        stale = client.post(
            f"/clinician/plans/{weekly}/hold", data={**data, "confirm": "1", "day": "2027-01-05"}
        )
    assert stale.status_code == 400
    assert "A new day has begun for the patient" in stale.text
    assert 'name="day" type="hidden" value="2027-01-06"' in stale.text
    assert version_of(app, weekly) == before


@pytest.mark.parametrize("until", ["9999-12-31", "2029-02-01"])
def test_a_hold_far_ahead_is_refused(client, app, clinician, patient, weekly, until):
    before = version_of(app, weekly)
    with at(date(2027, 1, 6)):
        login_as(client, clinician)
        data = {"until": until, "reason": "typo", "version": before}
        client.post(f"/clinician/plans/{weekly}/hold", data=data)
        confirmed(client, f"/clinician/plans/{weekly}/hold", patient, **data)
        page = flat(client.get(f"/clinician/plans/{weekly}").text)
    assert "more than 2 years ahead. Check the year." in page
    assert version_of(app, weekly) == before


def test_a_step_date_far_ahead_is_refused_beside_the_field(client, app, clinician, weekly):
    steps = [*WEEKLY[:4], (date(9999, 12, 31), "0", {}, "")]
    with at(date(2027, 1, 6)):
        login_as(client, clinician)
        response = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(steps, reason="typo", version=version_of(app, weekly)),
        )
    assert response.status_code == 400
    assert "more than 2 years ahead. Check the year." in response.text


def test_no_stored_plan_makes_a_page_fail(client, app, clinician, patient, weekly):
    """Dates at the end of the calendar, stored without the form's checks, still render."""
    with app.app_context():
        plan = db.session.get(TaperPlan, weekly)
        revision = PlanRevision(
            plan=plan,
            number=2,
            author_id=clinician.id,
            reason="raw",
            hold_start=date(2027, 1, 5),
            hold_until=date(9999, 12, 31),
            hold_kind="hold",
        )
        revision.steps.extend(
            [
                TaperStep(start_date=date(2027, 1, 4), total=Decimal("4")),
                TaperStep(start_date=date(9999, 12, 31), total=Decimal("2")),
            ]
        )
        db.session.add(revision)
        db.session.flush()
        plan.current_revision = revision
        db.session.commit()
    with at(date(2027, 1, 6)):
        login_as(client, patient)
        for path in ("/today", "/log", "/progress", "/history"):
            assert client.get(path).status_code == 200, path
        login_as(client, clinician)
        for path in (
            f"/clinician/plans/{weekly}",
            f"/clinician/plans/{weekly}/revisions",
            f"/clinician/plans/{weekly}/edit",
            "/clinician/patients",
            f"/clinician/patients/{patient.id}",
        ):
            assert client.get(path).status_code == 200, path
        refused = confirmed(
            client,
            f"/clinician/plans/{weekly}/release-hold",
            patient,
            reason="x",
            version=version_of(app, weekly),
        )
        assert refused.status_code in (200, 302)


def test_a_hand_revision_during_an_open_hold_keeps_the_hold(
    client, app, clinician, patient, weekly
):
    act(client, app, clinician, patient, weekly, date(2027, 1, 13), "hold", until="")
    with at(date(2027, 1, 20)):
        login_as(client, clinician)
        response = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(WEEKLY, reason="Note added", version=version_of(app, weekly)),
        )
        assert response.status_code == 302
    assert dose_today(today_page(client, patient, date(2027, 1, 26))) == "3 mg"
    with app.app_context():
        revisions = db.session.scalars(
            select(PlanRevision).where(PlanRevision.plan_id == weekly)
        ).all()
        assert revisions[-1].hold_start == date(2027, 1, 13)
        assert revisions[-1].hold_until is None


def test_a_hand_revision_may_not_start_a_step_inside_a_dated_hold(
    client, app, clinician, patient, weekly
):
    """Typing the old dates back during a hold would make its end jump past the next step:
    refused beside the date, and the hold's own dates stay."""
    act(client, app, clinician, patient, weekly, date(2027, 1, 4), "hold", until="2027-01-17")
    before = version_of(app, weekly)
    with at(date(2027, 1, 5)):
        login_as(client, clinician)
        editor = flat(client.get(f"/clinician/plans/{weekly}/edit").text)
        assert "is on hold until 17 Jan 2027: steps after it must start after that day" in editor
        response = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(WEEKLY, reason="Back to the old dates", version=before),
        )
    assert response.status_code == 400
    assert "The plan is on hold until 17 Jan 2027: this step must start after" in response.text
    assert version_of(app, weekly) == before
    assert dose_today(today_page(client, patient, date(2027, 1, 18))) == "3 mg"


def test_a_hand_revision_during_a_hold_keeps_the_held_step_and_its_typed_dates(
    client, app, clinician, patient, weekly
):
    act(client, app, clinician, patient, weekly, date(2027, 1, 5), "hold", until="2027-01-20")
    typed = [
        (date(2027, 1, 4), "4", {}, ""),
        (date(2027, 1, 28), "3", {}, "Slower"),
        (date(2027, 2, 11), "2", {}, ""),
    ]
    with at(date(2027, 1, 6)):
        login_as(client, clinician)
        no_held_step = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(typed[1:], reason="x", version=version_of(app, weekly)),
        )
        assert no_held_step.status_code == 400
        assert "keep a step that starts on or before that day" in no_held_step.text
        saved = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(typed, reason="Slower", version=version_of(app, weekly)),
        )
        assert saved.status_code == 302
    assert revision_of(app, weekly).hold_shift == 0  # the typed dates are the clinician's
    # Ending the hold early never moves the typed 28 Jan earlier.
    act(client, app, clinician, patient, weekly, date(2027, 1, 7), "release-hold")
    assert [d for d, _ in steps_of(app, weekly)] == [d for d, _, _, _ in typed]


def test_the_release_preview_says_when_the_next_step_starts(
    client, app, clinician, patient, weekly
):
    act(client, app, clinician, patient, weekly, date(2027, 1, 5), "hold", until="2027-01-30")
    preview = act(client, app, clinician, patient, weekly, date(2027, 1, 20), "release-hold")
    assert "The next step, 3 mg, starts on 21 Jan 2027" in preview
    assert "The 3 later steps move 10 days earlier too" in preview
    assert "(moved 10 days earlier)" in preview
    assert "never before them" in preview


def test_a_stopped_plan_cannot_be_held(client, app, clinician, patient, weekly):
    before = version_of(app, weekly)
    with at(date(2027, 2, 3)):
        login_as(client, clinician)
        data = {"reason": "x", "version": before, "until": ""}
        client.post(f"/clinician/plans/{weekly}/hold", data=data)
        assert "There is no dose to hold today" in client.get(f"/clinician/plans/{weekly}").text
    assert version_of(app, weekly) == before


def test_a_plan_paused_before_it_starts_says_so(client, app, clinician, patient, weekly):
    act(client, app, clinician, patient, weekly, date(2026, 12, 28), "status", status="paused")
    page = today_page(client, patient, date(2027, 1, 10))
    assert "paused this plan before it starts" in page
    assert "starts on ." not in page
    act(client, app, clinician, patient, weekly, date(2027, 1, 10), "status", status="active")
    assert steps_of(app, weekly)[0][0] == date(2027, 1, 17)  # 13 days paused


def test_a_hand_revision_during_a_pause_keeps_a_dose_to_be_paused_on(
    client, app, clinician, patient, weekly
):
    """Paused on 3 mg; steps typed from after the pause's first day only would leave the
    patient paused on no dose ("paused before it starts"): an abrupt stop nobody chose. The
    save is refused; with a step on or before that day it goes through, the pause kept."""
    act(client, app, clinician, patient, weekly, date(2027, 1, 13), "status", status="paused")
    later = [
        (date(2027, 1, 16), "3", {}, "Restart"),
        (date(2027, 1, 30), "2", {}, ""),
        (date(2027, 2, 13), "0", {}, ""),
    ]
    before = version_of(app, weekly)
    with at(date(2027, 1, 14)):
        login_as(client, clinician)
        refused = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(later, reason="Restart later", version=before),
        )
        assert refused.status_code == 400
        assert "The plan is paused on the dose in force on 13 Jan 2027: keep a step" in (
            flat(refused.text)
        )
        assert "Restart" in refused.text  # what was typed is still there
        assert version_of(app, weekly) == before
        kept = [(date(2027, 1, 11), "3", {}, ""), *later[1:]]
        saved = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(kept, reason="Slower after the pause", version=before),
        )
        assert saved.status_code == 302
    assert revision_of(app, weekly).hold_kind == "pause"
    for day in (date(2027, 1, 14), date(2027, 1, 20)):
        assert dose_today(today_page(client, patient, day)) == "3 mg"


def test_a_hand_revision_may_not_leave_an_active_plan_with_no_dose_today(
    client, app, clinician, patient, weekly
):
    """On 3 mg since 11 Jan; on 13 Jan the rest is typed again from 18 Jan only: the patient
    would have no dose for five days. Refused (the typed steps kept on the page); typed with
    a step on or before today, or with 0 mg from today to stop, it is saved."""
    rest = [(date(2027, 1, 18), "2", {}, "Re-typed"), (date(2027, 2, 1), "0", {}, "")]
    before = version_of(app, weekly)
    with at(date(2027, 1, 13)):
        login_as(client, clinician)
        refused = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(rest, reason="Re-typed the rest", version=before),
        )
        assert refused.status_code == 400
        text = flat(refused.text)
        assert "keep a step that starts on or before 13 Jan 2027 (a 0 mg step to stop)" in text
        assert "no dose until 18 Jan 2027" in text
        assert "Re-typed" in refused.text
        assert version_of(app, weekly) == before
    assert dose_today(today_page(client, patient, date(2027, 1, 13))) == "3 mg"
    kept_on = [(date(2027, 1, 13), "3", {}, ""), *rest]
    stopped = [(date(2027, 1, 13), "0", {}, "Stop now")]
    for typed, expected in ((kept_on, "3 mg"), (stopped, None)):
        with at(date(2027, 1, 13)):
            login_as(client, clinician)
            saved = client.post(
                f"/clinician/plans/{weekly}/edit",
                data=plan_form(typed, reason="Reviewed", version=version_of(app, weekly)),
            )
            assert saved.status_code == 302
        page = today_page(client, patient, date(2027, 1, 14))
        if expected is None:
            assert "You have stopped diazepam." in page
        else:
            assert dose_today(page) == expected


def test_a_plan_stopped_at_0_mg_can_be_restarted_from_a_later_date(
    client, app, clinician, patient, weekly
):
    """Stopped at 0 mg since 1 Feb: no dose is being taken, so steps typed from 10 Feb are no
    abrupt stop, and the revision is saved."""
    with at(date(2027, 2, 5)):
        login_as(client, clinician)
        restart = [(date(2027, 2, 10), "2", {}, "Restart"), (date(2027, 2, 24), "0", {}, "")]
        saved = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(restart, reason="Restart", version=version_of(app, weekly)),
        )
        assert saved.status_code == 302
    assert dose_today(today_page(client, patient, date(2027, 2, 11))) == "2 mg"


def test_a_plan_paused_before_it_starts_can_still_be_revised(
    client, app, clinician, patient, weekly
):
    """A pause before the first step has no dose to keep: new dates are taken."""
    act(client, app, clinician, patient, weekly, date(2026, 12, 28), "status", status="paused")
    later = [(date(2027, 1, 20), "4", {}, ""), (date(2027, 2, 3), "0", {}, "")]
    with at(date(2026, 12, 30)):
        login_as(client, clinician)
        saved = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(later, reason="Later start", version=version_of(app, weekly)),
        )
        assert saved.status_code == 302
    assert "paused this plan before it starts" in today_page(client, patient, date(2027, 1, 2))


def test_the_whole_plan_table_gives_no_date_to_steps_waiting_for_an_open_hold_or_pause(
    client, app, clinician, patient, weekly
):
    """Held on 3 mg since 13 Jan, viewed on 3 Feb: the steps after it keep their typed dates
    in the plan, but those dates are past and not in force, so the table says "Not set yet"
    for them (the card says the clinician sets the date when the hold ends)."""
    act(client, app, clinician, patient, weekly, date(2027, 1, 13), "hold", until="")
    page = today_page(client, patient, date(2027, 2, 3))
    assert dose_today(page) == "3 mg"
    table = flat(re.search(r'<table class="plan-table">.*?</table>', page, re.S).group(0))
    cells = re.findall(r"<td>([^<]*)</td>\s*<td class=\"num\">([^<]*)</td>", table)
    assert cells == [
        ("4 Jan 2027", "4 mg"),
        ("11 Jan 2027", "3 mg"),
        ("Not set yet", "2 mg"),
        ("Not set yet", "1 mg"),
        ("Not set yet", "0 mg"),
    ]
    act(client, app, clinician, patient, weekly, date(2027, 2, 3), "release-hold")
    table = re.search(
        r'<table class="plan-table">.*?</table>',
        today_page(client, patient, date(2027, 2, 5)),
        re.S,
    ).group(0)
    assert "Not set yet" not in table  # the hold ended: every step has its date again


def test_the_progress_table_does_not_date_a_step_from_the_first_day_shown(
    client, app, clinician, patient, weekly
):
    """The 30 days up to 14 Feb start on 16 Jan, while the 3 mg step typed for 11 Jan is in
    force: its row says 16 Jan is the first day shown, not the day that dose started."""
    with at(date(2027, 2, 14)):
        login_as(client, patient)
        page = flat(client.get("/progress?range=30").text)
    table = re.sub(r"<[^>]+>", "|", re.search(r'scheduled doses">.*?</table>', page).group(0))
    assert "16 Jan 2027 (first day shown)|" in table
    assert "Dose 3 mg on 16 January, the first day shown" in page
    assert "|18 Jan 2027|" in table  # a step that begins inside the range keeps its date


def test_a_step_date_before_2000_is_refused(client, app, clinician, weekly):
    steps = [(date(1, 1, 1), "4", {}, ""), *WEEKLY[1:]]
    with at(date(2027, 1, 6)):
        login_as(client, clinician)
        response = client.post(
            f"/clinician/plans/{weekly}/edit",
            data=plan_form(steps, reason="typo", version=version_of(app, weekly)),
        )
    assert response.status_code == 400
    assert "This date is before 2000. Check the year." in response.text
