"""The daily log a shaky person finishes in a minute (issue 15, items 1-3): questions worded
for the day logged, compact 0-4 rows that stay real labelled radio buttons, the red-flag box
at the top, an error summary that links to each question, and a confirmation of what was
saved with the next dose change."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from taper.domain.instrument import CIWA_B
from taper.domain.log_input import day_name
from taper.extensions import db
from taper.models import AuditEvent, DailyLog, LogDose, Role
from tests.conftest import login_as
from tests.helpers import count_rows, fill_log, patient_today, version_of
from tests.plans.timeline_posts import confirmed


def page_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# --- wording for the day logged ------------------------------------------------------------


def test_today_asks_since_yesterday_and_last_night(client, patient, active_plan):
    login_as(client, patient)
    page = page_of(client, "/log")
    assert "How irritable have you felt since yesterday?" in page
    assert (
        "How much trouble have you had with your eyes (light hurts, blurred vision) "
        "since yesterday?" in page
    )
    assert "How unrestful was your sleep last night?" in page
    assert '<label for="sleep_hours">How many hours did you sleep last night?</label>' in page
    assert "Did you take your diazepam as scheduled today: 7.5 mg?" in page
    assert "How have you felt since yesterday?" in page


def test_yesterday_asks_about_yesterday_and_the_night_before(client, patient, active_plan):
    login_as(client, patient)
    day = patient_today(patient) - timedelta(days=1)
    page = page_of(client, f"/log?day={day.isoformat()}")
    assert "How irritable did you feel yesterday?" in page
    assert "since yesterday" not in page
    assert "How unrestful was your sleep the night before?" in page
    assert "How many hours did you sleep the night before?" in page
    assert "last night" not in page
    assert "Did you take your diazepam as scheduled yesterday: 7.5 mg?" in page
    assert "strong painkillers), yesterday?" in page


def test_the_day_before_names_the_day(client, patient, active_plan):
    login_as(client, patient)
    today = patient_today(patient)
    day = today - timedelta(days=2)
    page = page_of(client, f"/log?day={day.isoformat()}")
    name = day_name(day, today)  # "Tuesday 1 December"
    assert f"How tense did you feel on {name}?" in page
    assert f"How many hours did you sleep the night before {name}?" in page
    assert "last night" not in page
    assert "since yesterday" not in page


# --- compact rows, still real radio buttons --------------------------------------------------


def test_each_symptom_is_a_labelled_row_of_five_radio_buttons(client, patient, active_plan):
    login_as(client, patient)
    page = page_of(client, "/log")
    for item in CIWA_B.patient_items:
        radios = re.findall(rf'<input type="radio" id="{item.key}-(\d)" name="{item.key}"', page)
        assert radios == ["0", "1", "2", "3", "4"], item.key
        for value, anchor in enumerate(CIWA_B.anchors):
            # A screen reader hears "0, Not at all"; the screen shows "0".
            label = (
                f'<label for="{item.key}-{value}"><span class="num">{value}</span>'
                f'<span class="visually-hidden">, {anchor}</span></label>'
            )
            assert label in page, (item.key, value)
    assert page.count('<fieldset class="scale-item log-step') == 17
    assert page.count("<legend>") >= 17 + 1 + 1  # items, the dose question, substances
    assert "0 = not at all … 4 = very much so" in page  # the key, once
    assert page.count("0 = not at all") == 1


def test_the_log_page_has_no_inline_script_or_style(client, patient, active_plan):
    login_as(client, patient)
    page = page_of(client, "/log")
    assert 'style="' not in page
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert '<script src="/static/js/log.js" defer></script>' in page
    assert 'href="/static/css/log.css"' in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "ids must be unique on the page"
    script = client.get("/static/js/log.js")
    assert script.status_code == 200
    script.close()


def test_red_flags_stay_at_the_top_before_the_first_question(client, patient, active_plan):
    login_as(client, patient)
    page = page_of(client, "/log")
    box = page.index('<details class="red-flag-box"')
    assert box < page.index("Which day is this for?") < page.index('id="irritable-0"')
    assert "Something serious happening?" in page
    checklist = page[box : page.index("</details>", box)]
    assert 'name="red_flags" value="seizure"' in checklist
    assert 'name="send_flags" value="1"' in checklist
    assert "Send this now" in checklist
    assert '<details class="red-flag-box">' in page  # closed until something is ticked


def test_red_flag_box_is_open_when_flags_are_ticked_or_missing(client, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client)
    data["send_flags"] = "1"  # "Send this now" with nothing ticked
    refused = client.post("/log", data=data)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert '<details class="red-flag-box" open>' in page
    assert '<a href="#flag-seizure">Something serious happening?</a>' in page


def test_the_day_choice_is_one_line_of_links(client, patient, active_plan):
    login_as(client, patient)
    page = page_of(client, "/log")
    nav = page[page.index('<nav class="day-links"') : page.index("</nav>", page.index("day-links"))]
    assert nav.count("<a ") == 3
    assert 'aria-current="page"' in nav


# --- the error summary ------------------------------------------------------------------------


def test_a_missing_answer_is_listed_and_linked_and_every_other_answer_stays(
    client, app, patient, active_plan
):
    login_as(client, patient)
    data = fill_log(client, score=3, note="Shaky morning", sleep="")
    del data["irritable"]
    del data[f"took_{active_plan}"]
    response = client.post("/log", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    summary = page[page.index('id="error-summary"') : page.index("</div>", page.index("error-"))]
    assert 'role="alert"' in page[page.index('<div class="error-summary"') :][:200]
    assert 'tabindex="-1"' in page[page.index('<div class="error-summary"') :][:200]
    links = re.findall(r'<a href="(#[^"]+)">([^<]+)</a>', summary)
    assert links == [
        ("#irritable-0", "Question 1: How irritable have you felt since yesterday?"),
        (f"#took_{active_plan}-yes", "Did you take your diazepam as scheduled today: 7.5 mg?"),
        ("#sleep_hours", "How many hours did you sleep last night?"),
    ]
    # Each link names a control that is on the page.
    for href, _ in links:
        assert f'id="{href[1:]}"' in page
    # Every other answer stays.
    assert 'id="tense-3" name="tense" value="3" checked' in page
    assert 'id="worry-3" name="worry" value="3" checked' in page
    assert 'id="substances-no" name="substances" value="no" checked' in page
    assert ">Shaky morning</textarea>" in page
    assert 'name="irritable" value="3" checked' not in page
    assert count_rows_in(app, DailyLog) == 0


def test_the_summary_for_yesterday_words_questions_for_yesterday(client, patient, active_plan):
    login_as(client, patient)
    day = patient_today(patient) - timedelta(days=1)
    data = fill_log(client, day, sleep="lots")
    del data["vision"]
    page = client.post("/log", data=data).get_data(as_text=True)
    assert (
        '<a href="#vision-0">Question 15: How much trouble did you have with your eyes '
        "(light hurts, blurred vision) yesterday?</a>" in page
    )
    assert '<a href="#sleep_hours">How many hours did you sleep the night before?</a>' in page


def test_an_out_of_date_form_is_in_the_summary_without_a_link(client, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client)
    data["submission_id"] = "not-an-id"
    page = client.post("/log", data=data).get_data(as_text=True)
    assert 'This form: <span class="error-why">This form is out of date.' in page


def count_rows_in(app, model) -> int:
    with app.app_context():
        return count_rows(model)


# --- the confirmation after saving ------------------------------------------------------------


def test_saving_shows_what_was_saved_and_the_next_dose_change(client, app, patient, active_plan):
    login_as(client, patient)
    today = patient_today(patient)
    response = client.post("/log", data=fill_log(client, score=1, sleep="6.5", note="Ok day"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/log/saved?day={today.isoformat()}"
    page = page_of(client, response.headers["Location"])
    text = re.sub(r"\s+", " ", page)
    assert "Saved. Thank you for logging your day." in text
    assert "<strong>17 out of 68</strong>: mild" in text
    assert "Took it as scheduled: 7.5 mg" in text
    assert "6.5 hours" in text
    assert "Ok day" in text
    # The next step the clinician typed, on its date (as Today shows it).
    next_day = today + timedelta(days=11)
    assert f"Next change: 5 mg from {next_day:%A} {next_day.day} {next_day:%B %Y}." in text
    # A reload shows the same page and saves nothing again.
    again = page_of(client, response.headers["Location"])
    assert "17 out of 68" in again
    with app.app_context():
        assert count_rows(DailyLog) == 1
        assert count_rows(LogDose) == 1
        assert count_rows(AuditEvent, action="log.save") == 1


def test_a_different_dose_taken_is_shown_as_typed(client, patient, active_plan):
    login_as(client, patient)
    day = patient_today(patient) - timedelta(days=1)
    saved = client.post("/log", data=fill_log(client, day, took="no", dose_taken="5", score=3))
    page = re.sub(r"\s+", " ", page_of(client, saved.headers["Location"]))
    assert "Took 5 mg (scheduled: 7.5 mg)" in page
    assert "<strong>51 out of 68</strong>: severe" in page
    assert f"What you told us for {day:%A} {day.day} {day:%B %Y}" in page
    assert "Diazepam yesterday" in page


def test_a_held_plan_says_so_and_invents_no_date(client, app, clinician, patient, active_plan):
    login_as(client, clinician)
    hold = {"until": "", "reason": "Symptoms up", "version": version_of(app, active_plan)}
    response = confirmed(client, f"/clinician/plans/{active_plan}/hold", patient, **hold)
    assert response.status_code == 302
    login_as(client, patient)
    saved = client.post("/log", data=fill_log(client))
    page = re.sub(r"\s+", " ", page_of(client, saved.headers["Location"]))
    assert "Your clinician is keeping you on 7.5 mg until they review your plan." in page
    assert "Next step: 5 mg, once your clinician ends the hold. They will set the date then." in (
        page
    )
    assert "Next change:" not in page


def test_a_day_without_a_log_goes_to_the_log_form(client, patient, active_plan):
    login_as(client, patient)
    day = patient_today(patient) - timedelta(days=1)
    response = client.get(f"/log/saved?day={day.isoformat()}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/log?day={day.isoformat()}"
    old = patient_today(patient) - timedelta(days=30)
    assert client.get(f"/log/saved?day={old.isoformat()}").headers["Location"] == "/log"


@pytest.mark.parametrize("day", ["", "yesterday", "2026-13-40", "9" * 400, "2026-12-03'--"])
def test_a_malformed_day_goes_to_the_log_form(client, patient, active_plan, day):
    login_as(client, patient)
    response = client.get("/log/saved", query_string={"day": day})
    assert response.status_code == 302
    assert response.headers["Location"] == "/log"


def test_another_patients_saved_day_is_never_shown(
    client, make_user, clinician, patient, active_plan
):
    login_as(client, patient)
    saved = client.post("/log", data=fill_log(client, note="Private words"))
    other = make_user(Role.PATIENT, name="Other Patient", clinicians=(clinician,))
    login_as(client, other)
    response = client.get(saved.headers["Location"])
    assert response.status_code == 302  # she has no log that day: her own form
    assert response.headers["Location"].startswith("/log")
    assert "Private words" not in client.get("/log").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.ADMIN])
def test_only_patients_open_the_confirmation(client, make_user, patient, active_plan, role):
    login_as(client, patient)
    saved = client.post("/log", data=fill_log(client))
    login_as(client, make_user(role))
    assert client.get(saved.headers["Location"]).status_code in (403, 404)


def test_the_confirmation_offers_a_change_only_for_a_day_that_may_be_logged(
    client, patient, active_plan
):
    login_as(client, patient)
    saved = client.post("/log", data=fill_log(client))
    page = page_of(client, saved.headers["Location"])
    assert f'href="/log?day={patient_today(patient).isoformat()}">Change this log</a>' in page
    assert 'href="/today">Back to Today</a>' in page


def test_a_correction_of_a_day_with_red_flags_opens_the_box_with_them_ticked(
    client, patient, active_plan
):
    login_as(client, patient)
    client.post("/log", data=fill_log(client, flags=["confusion"], when="past"))
    page = page_of(client, "/log")
    assert '<details class="red-flag-box" open>' in page
    assert 'id="flag-confusion" name="red_flags" value="confusion" checked' in page


def test_every_link_of_the_error_summary_reaches_a_control_on_the_page(
    client, patient, active_plan
):
    login_as(client, patient)
    data = {"day": "not a day", "submission_id": "x", "note": "\x00"}
    response = client.post("/log", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    summary = page[page.index('id="error-summary"') : page.index("</div>", page.index("error-"))]
    hrefs = re.findall(r'<a href="#([^"]+)">', summary)
    assert len(hrefs) >= 17 + 3  # every symptom, the day, substances, sleep, the note
    for target in hrefs:
        assert f'id="{target}"' in page, target
    assert "Question 17: How much have you worried" in summary


def test_a_paused_plan_says_so_and_invents_no_date(client, app, clinician, patient, active_plan):
    login_as(client, clinician)
    pause = {"status": "paused", "reason": "Away", "version": version_of(app, active_plan)}
    response = confirmed(client, f"/clinician/plans/{active_plan}/status", patient, **pause)
    assert response.status_code == 302, response.status_code
    login_as(client, patient)
    saved = client.post("/log", data=fill_log(client))
    page = re.sub(r"\s+", " ", page_of(client, saved.headers["Location"]))
    assert "Your plan is paused: keep taking 7.5 mg until your clinician restarts it." in page
    assert "Next step: 5 mg, once your clinician restarts the plan." in page
    assert "Next change:" not in page


def test_the_confirmation_says_when_in_the_patients_own_time_and_counts_versions(
    client, app, patient, active_plan
):
    login_as(client, patient)  # the fixtures' patients live in America/New_York
    client.post("/log", data=fill_log(client))
    saved = client.post("/log", data=fill_log(client, score=2))
    page = re.sub(r"\s+", " ", page_of(client, saved.headers["Location"]))
    saved_at = re.search(r'<p class="hint" id="saved-at">Saved ([^<]*?)\.', page).group(1)
    with app.app_context():
        moment = db.session.scalar(select(DailyLog.created_at).where(DailyLog.version == 2))
    local = moment.astimezone(ZoneInfo(patient.timezone))
    assert saved_at == f"{local.day} {local:%b %Y, %H:%M}"
    assert "UTC" not in page
    assert "This is version 2 of this day: the earlier one is kept." in page
    assert "<strong>34 out of 68</strong>: moderate" in page
