"""Issue 12: past events count, the missing red flags, alcohol and sedatives, the urgent-care
page's "what to tell them", and the daily log's own "Send this now"."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from taper.domain.red_flags import RED_FLAGS
from taper.extensions import db
from taper.models import Alert, DailyLog, RedFlagReport
from taper.templating import long_date
from tests.conftest import login_as
from tests.helpers import field_error, fill_log, log_form, patient_today, submission_of


def rows(app, model):
    with app.app_context():
        return db.session.scalars(select(model).order_by(model.id)).all()


def test_the_checklist_asks_about_now_and_since_the_last_log(client, patient, active_plan):
    login_as(client, patient)
    page = client.get("/log").text
    legend = "Is any of this happening now, or has it happened since your last log?"
    assert page.index(legend) < page.index("Which day is this for?")
    assert 'name="red_flags_when" value="now"' in page
    assert 'name="red_flags_when" value="past"' in page


def test_the_three_missing_flags_are_on_both_lists(client, patient, active_plan):
    login_as(client, patient)
    for url in ("/log", "/help"):
        page = client.get(url).text
        for key, label in (
            ("overdose", "I took more than my prescribed dose"),
            ("fainting", "I fainted or collapsed"),
            ("breathing", "I have trouble breathing"),
        ):
            assert f'value="{key}"' in page, (url, key)
            assert label in page, (url, key)


@pytest.mark.parametrize("key", ["overdose", "fainting", "breathing"])
def test_each_new_flag_is_urgent(client, app, patient, active_plan, key):
    login_as(client, patient)
    response = client.post("/help", data={"red_flags": key, "submission_id": "e" * 32})
    assert "Get urgent help now" in response.text
    (alert,) = rows(app, Alert)
    assert alert.tier == "urgent"
    label = next(f.label for f in RED_FLAGS if f.key == key)
    assert label in alert.reason


@pytest.mark.parametrize(
    ("when", "said"),
    [("past", "happened since the last log"), ("now", "happening now"), (None, None)],
)
def test_the_alert_says_whether_it_is_now_or_since_the_last_log(
    client, app, patient, active_plan, when, said
):
    login_as(client, patient)
    response = client.post("/log", data=fill_log(client, flags=["seizure"], when=when))
    assert "Get urgent help now" in response.text
    (entry,) = rows(app, DailyLog)
    assert entry.red_flags_when == (when or "")
    (alert,) = rows(app, Alert)
    if said:
        assert said in alert.reason
        assert said in response.text  # "What to tell them" says it too
    else:
        assert "happening now" not in alert.reason
        assert "since" not in alert.reason


def test_help_page_says_now_unless_told_otherwise(client, app, patient, active_plan):
    login_as(client, patient)
    page = client.get("/help").text
    assert re.search(r'value="now" checked', page)
    client.post(
        "/help",
        data={"red_flags": "fainting", "red_flags_when": "past", "submission_id": "f" * 32},
    )
    (report,) = rows(app, RedFlagReport)
    assert (report.when, report.source) == ("past", "help")
    (alert,) = rows(app, Alert)
    assert "happened since the last log" in alert.reason


def test_a_when_that_is_not_one_of_ours_is_ignored(client, app, patient, active_plan):
    login_as(client, patient)
    client.post("/log", data=fill_log(client, flags=["confusion"], when="<script>"))
    (entry,) = rows(app, DailyLog)
    assert entry.red_flags_when == ""


# Alcohol, opioids or other sedatives ------------------------------------------------------


def test_the_log_asks_about_alcohol_and_sedatives_and_needs_an_answer(
    client, app, patient, active_plan
):
    login_as(client, patient)
    data = fill_log(client, substances=None, note="Kept this")
    response = client.post("/log", data=data)
    assert response.status_code == 400
    assert field_error(response.text, "substances") == "Choose Yes or No."
    assert "Kept this" in response.text
    assert rows(app, DailyLog) == []


def test_no_alcohol_or_sedatives_raises_nothing(client, app, patient, active_plan):
    login_as(client, patient)
    assert client.post("/log", data=fill_log(client, substances="no")).status_code == 302
    (entry,) = rows(app, DailyLog)
    assert entry.substances is False
    assert rows(app, Alert) == []


def test_alcohol_alone_is_a_review_alert_once_per_day(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, substances="yes")
    data["substances_detail"] = "two glasses of wine"
    assert client.post("/log", data=data).status_code == 302
    (entry,) = rows(app, DailyLog)
    assert (entry.substances, entry.substances_detail) == (True, "two glasses of wine")
    (alert,) = rows(app, Alert)
    assert (alert.kind, alert.tier) == ("substances", "review")
    assert "two glasses of wine" in alert.reason
    # A correction of the same day (same answer) raises nothing new.
    again = fill_log(client, substances="yes")
    again["substances_detail"] = "two glasses of wine"
    client.post("/log", data=again)
    assert len(rows(app, Alert)) == 1


def test_alcohol_with_severe_drowsiness_is_urgent(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, substances="yes", flags=["drowsy"])
    data["substances_detail"] = "oxycodone"
    response = client.post("/log", data=data)
    assert "Get urgent help now" in response.text
    (alert,) = rows(app, Alert)
    assert alert.tier == "urgent"
    assert "alcohol, opioids or other sedatives taken (oxycodone)" in alert.reason
    # What to tell whoever answers: today's dose as the clinician typed it, and what else.
    assert "My dose for today, set by my clinician, is 7.5 mg" in response.text
    assert "Today I also took: oxycodone." in response.text


def test_a_no_answer_leaves_no_detail(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, substances="no")
    data["substances_detail"] = "something typed, then changed my mind"
    client.post("/log", data=data)
    (entry,) = rows(app, DailyLog)
    assert (entry.substances, entry.substances_detail) == (False, "")


def test_a_correction_starts_from_the_substances_answer(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, substances="yes")
    data["substances_detail"] = "a beer"
    client.post("/log", data=data)
    page = client.get("/log").text
    assert 'id="substances-yes" name="substances" value="yes" checked' in page
    assert 'value="a beer"' in page


# The urgent-care page ----------------------------------------------------------------------


@pytest.mark.app_config(URGENT_EMERGENCY_NUMBER="112", URGENT_CRISIS_NUMBER="116123")
def test_every_urgent_text_uses_the_configured_numbers(client, patient, active_plan):
    login_as(client, patient)
    body = client.post("/help", data={"red_flags": "seizure", "submission_id": "a" * 32}).text
    assert "Call 112 now or go to the nearest emergency department." in body
    assert "call or text 116123" in body
    assert 'href="sms:116123"' in body
    assert 'href="tel:116123"' in body
    assert "should call 112 now" in body
    assert "911" not in body
    assert "988" not in body


def test_poison_control_shows_only_where_configured(app_factory, client, patient, active_plan):
    login_as(client, patient)
    body = client.post("/help", data={"red_flags": "overdose", "submission_id": "a" * 32}).text
    assert "poison control" not in body.lower()


@pytest.mark.app_config(URGENT_POISON_NUMBER="1-800-222-1222")
def test_poison_control_by_call(client, patient, active_plan):
    login_as(client, patient)
    body = client.post("/help", data={"red_flags": "overdose", "submission_id": "a" * 32}).text
    assert 'href="tel:1-800-222-1222"' in body
    assert "poison control can help: 1-800-222-1222." in body


def test_the_urgent_page_names_the_medication_and_todays_dose(client, patient, active_plan):
    login_as(client, patient)
    data = {"red_flags": "seizure", "red_flags_when": "now", "submission_id": "a" * 32}
    body = client.post("/help", data=data).text
    assert "I am tapering off diazepam. My dose for today, set by my clinician, is 7.5 mg." in (
        body
    )
    assert "What is happening: A seizure or fit (happening now)." in body
    assert "Your care team has been alerted." in body


# "Send this now" on the daily log -----------------------------------------------------------


def test_send_this_now_sends_the_flags_alone_and_keeps_the_log_as_typed(
    client, app, patient, active_plan
):
    login_as(client, patient)
    data = fill_log(client, flags=["breathing"], when="now", score=2, note="half written")
    data["sleep_hours"] = ""  # not finished yet
    data["send_flags"] = "1"
    response = client.post("/log", data=data)
    assert response.status_code == 200
    assert "Get urgent help now" in response.text
    (report,) = rows(app, RedFlagReport)
    assert (report.flags, report.source, report.when) == (["breathing"], "log", "now")
    assert rows(app, DailyLog) == []
    (alert,) = rows(app, Alert)
    assert alert.tier == "urgent"

    # "Back to my log" carries every answer; nothing is saved by going back.
    resume = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', response.text)
    )
    assert resume["resume"] == "1"
    assert resume["note"] == "half written"
    assert "red_flags" not in resume
    back = client.post("/log", data=resume)
    assert back.status_code == 200
    assert "Your urgent report was sent to your care team." in back.text
    assert "half written" in back.text
    assert 'name="irritable" value="2" checked' in back.text
    assert 'id="flag-breathing" name="red_flags" value="breathing" checked' not in back.text
    assert rows(app, DailyLog) == []

    # Finishing the log afterwards saves it, without sending the flag twice.
    finished = fill_log(client, score=2, note="half written")
    assert client.post("/log", data=finished).status_code == 302
    assert len(rows(app, DailyLog)) == 1
    assert len([a for a in rows(app, Alert) if a.tier == "urgent"]) == 1


def test_back_to_a_log_whose_day_has_passed_says_the_form_is_now_for_today(
    client, app, patient, active_plan
):
    """Filled in for the day before yesterday, "Send this now", then after midnight "Back
    to my log": that day may no longer be logged, and the form says it now asks about today
    (as a save would), instead of passing the old day's answers off as today's."""
    login_as(client, patient)
    today = patient_today(patient)
    old_day = today - timedelta(days=3)  # the day before yesterday, one midnight ago
    resume = dict(fill_log(client, score=2, note="bad night"), day=old_day.isoformat())
    resume["resume"] = "1"
    back = client.post("/log", data=resume)
    assert back.status_code == 200
    assert "You can log today, yesterday or the day before." in back.text
    assert f"This form is now for {long_date(today)}: check it, then save again." in (
        " ".join(back.text.split())
    )
    assert "bad night" in back.text  # nothing the patient wrote is lost
    nothing_ticked = dict(resume, send_flags="1")
    del nothing_ticked["resume"]
    refused = client.post("/log", data=nothing_ticked)
    assert refused.status_code == 400
    assert "You can log today, yesterday or the day before." in refused.text
    assert rows(app, DailyLog) == []


def test_send_this_now_twice_is_one_report(client, app, patient, active_plan):
    login_as(client, patient)
    data = dict(fill_log(client, flags=["seizure"]), send_flags="1")
    for _ in range(2):
        assert "Get urgent help now" in client.post("/log", data=data).text
    assert len(rows(app, RedFlagReport)) == 1
    assert len(rows(app, Alert)) == 1


def test_send_this_now_with_nothing_ticked_asks_beside_the_list(client, app, patient, active_plan):
    login_as(client, patient)
    data = dict(fill_log(client, note="still here"), send_flags="1")
    response = client.post("/log", data=data)
    assert response.status_code == 400
    assert field_error(response.text, "red-flags") == (
        "Tick what is happening first, or call for help now."
    )
    assert "still here" in response.text
    assert rows(app, RedFlagReport) == rows(app, DailyLog) == []


def test_enter_in_a_text_field_saves_the_log_not_the_flags(client, patient, active_plan):
    """Implicit submission uses the form's first submit button: it must be "Save my day"."""
    login_as(client, patient)
    page = client.get("/log").text
    form = page[page.index('<form method="post" novalidate class="log-form">') :]
    first = re.search(r"<button[^>]*>([^<]*)</button>", form)
    assert first.group(1) == "Save my day"
    assert 'name="send_flags"' not in first.group(0)


def test_send_this_now_needs_a_signed_in_patient(client, clinician, patient):
    login_as(client, clinician)
    data = dict(log_form(patient_today(patient), flags=["seizure"]), send_flags="1")
    assert client.post("/log", data=data).status_code in (403, 404)


def test_the_log_form_submission_id_is_fresh_after_going_back(client, patient, active_plan):
    login_as(client, patient)
    data = dict(fill_log(client, flags=["seizure"]), send_flags="1")
    page = client.post("/log", data=data).text
    resume = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    back = client.post("/log", data=resume).text
    assert submission_of(back) != data["submission_id"]


def test_back_then_save_after_send_this_now_alerts_once(client, app, patient, active_plan):
    """The browser's Back button brings the same form (same id, flag still ticked)."""
    login_as(client, patient)
    data = fill_log(client, flags=["seizure"])
    client.post("/log", data=dict(data, send_flags="1"))
    response = client.post("/log", data=data)  # Back, then "Save my day"
    assert "Get urgent help now" in response.text
    (entry,) = rows(app, DailyLog)
    assert entry.red_flags == ["seizure"]
    assert len([a for a in rows(app, Alert) if a.tier == "urgent"]) == 1


def test_back_then_save_with_another_flag_alerts_for_the_new_one(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, flags=["seizure"])
    client.post("/log", data=dict(data, send_flags="1"))
    client.post("/log", data=dict(data, red_flags=["seizure", "confusion"]))
    urgent = [a for a in rows(app, Alert) if a.tier == "urgent"]
    assert len(urgent) == 2
    assert "Confusion" in urgent[1].reason
    assert "seizure" not in urgent[1].reason.lower()


def test_enter_on_the_help_page_never_sends_a_red_flag(client, patient):
    login_as(client, patient)
    page = client.get("/help").text
    form = page[page.index('<form method="post" novalidate>') :]
    first = re.search(r"<button[^>]*>([^<]*)</button>", form)
    assert first.group(1) == "Send my message"
    assert 'name="red_flags"' not in first.group(0)


def test_the_patients_export_has_when_and_what_else_was_taken(client, patient, active_plan):
    import csv
    import io

    login_as(client, patient)
    data = fill_log(client, flags=["fainting"], when="past", substances="yes")
    data["substances_detail"] = "a beer"
    client.post("/log", data=data)
    (row,) = csv.DictReader(io.StringIO(client.get("/export.csv").text))
    assert row["red_flags"] == "fainting"
    assert row["red_flags_when"] == "past"
    assert row["alcohol_opioids_sedatives"] == "yes"
    assert row["what_else_taken"] == "a beer"


@pytest.mark.app_config(URGENT_CRISIS_NUMBER="116123", URGENT_CRISIS_SMS=False)
def test_a_crisis_line_without_texts_is_offered_by_call_only(client, patient, active_plan):
    login_as(client, patient)
    body = client.post("/help", data={"red_flags": "suicidal", "submission_id": "a" * 32}).text
    assert 'href="tel:116123"' in body
    assert "sms:" not in body
