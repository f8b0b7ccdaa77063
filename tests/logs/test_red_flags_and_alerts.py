"""Red flags reach urgent care at once; alerts reach the care team; nothing is lost."""

import re
import smtplib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from taper.domain.red_flags import RED_FLAGS
from taper.extensions import db
from taper.models import (
    Alert,
    AlertSettings,
    AlertStatus,
    AuditEvent,
    DailyLog,
    OutboxMessage,
    RedFlagReport,
    Role,
    User,
)
from taper.services import notify
from tests.conftest import login_as
from tests.helpers import fill_log, log_form, patient_today
from tests.tools.smtp import free_port, silent_server, smtp_server

URGENT = "Call 911 now or go to the nearest emergency department."


def all_rows(app, model):
    with app.app_context():
        return db.session.scalars(select(model).order_by(model.id)).all()


def test_help_button_is_on_every_patient_page(client, patient, active_plan):
    login_as(client, patient)
    for url in ("/today", "/log", "/history", "/help", "/password"):
        page = client.get(url).get_data(as_text=True)
        assert 'class="help-now" href="/help">I need help now</a>' in page, url


def test_red_flag_list_is_at_the_top_of_the_daily_log(client, patient):
    login_as(client, patient)
    page = client.get("/log").get_data(as_text=True)
    assert page.index("Is any of this happening now, or has it happened since your last log?") < (
        page.index("Which day is this for?")
    )
    assert 'value="seizure"' in page


def test_seizure_from_help_button_shows_urgent_care_and_stores_urgent_alert(
    client, app, patient, clinician, active_plan
):
    login_as(client, patient)
    page = client.get("/help").get_data(as_text=True)
    token = re.search(r'name="submission_id" value="(\w+)"', page).group(1)
    # Each red flag is its own button: the press that opens urgent care is the second click.
    buttons = re.findall(r'class="flag-button" name="red_flags" value="(\w+)"', page)
    assert buttons == [flag.key for flag in RED_FLAGS]
    response = client.post("/help", data={"red_flags": "seizure", "submission_id": token})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert URGENT in body
    assert "call or text 988" in body
    assert "Do not stop or change your dose on your own." in body
    assert 'href="tel:911"' in body
    (report,) = all_rows(app, RedFlagReport)
    assert report.flags == ["seizure"]
    (alert,) = all_rows(app, Alert)
    assert (alert.kind, alert.tier, alert.report_id) == ("red_flag", "urgent", report.id)
    (message,) = all_rows(app, OutboxMessage)
    assert message.to_email == clinician.email
    assert "seizure" not in message.body.lower()
    assert patient.name not in message.body
    assert "/clinician/alerts" in message.body


def test_an_urgent_alert_with_no_active_clinician_goes_to_the_admins(
    client, app, patient, clinician, admin, caplog
):
    """The patient's only clinician was deactivated: the seizure is stored and alerted, and
    since no clinician would hear of it, every active admin is e-mailed to assign one (no
    health details) and the gap is logged as an error."""
    with app.app_context():
        db.session.get(User, clinician.id).active = False
        db.session.commit()
    login_as(client, patient)
    data = {"red_flags": "seizure", "submission_id": "b" * 32}
    with caplog.at_level("ERROR", logger="taper.services.alerts"):
        assert URGENT in client.post("/help", data=data).text
    (alert,) = all_rows(app, Alert)
    assert alert.tier == "urgent"
    (message,) = all_rows(app, OutboxMessage)
    assert (message.to_email, message.alert_id) == (admin.email, alert.id)
    assert message.subject == "Taper: an urgent alert reached no clinician"
    assert f"account number {patient.id}" in message.body
    assert "seizure" not in message.body.lower()
    assert patient.name not in message.body
    assert f"urgent alert {alert.id} of patient {patient.id}: no active clinician" in caplog.text


def test_help_without_a_tick_asks_again(client, app, patient):
    login_as(client, patient)
    response = client.post("/help", data={"submission_id": "a" * 32})
    assert response.status_code == 400
    assert "Press what is happening, or call for help now." in response.get_data(as_text=True)
    assert all_rows(app, Alert) == []


def test_red_flag_in_the_daily_log_saves_log_and_alert_together(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, flags=["suicidal", "not-a-flag"])
    body = client.post("/log", data=data).get_data(as_text=True)
    assert URGENT in body
    (entry,) = all_rows(app, DailyLog)
    assert entry.red_flags == ["suicidal"]
    (alert,) = all_rows(app, Alert)
    assert (alert.tier, alert.log_id) == ("urgent", entry.id)


@pytest.mark.parametrize(
    "broken",
    [
        {"sleep_hours": "lots"},  # a wrong answer elsewhere on the form
        {"day": "2000-01-01"},  # a day that may not be logged
        {"submission_id": "stale"},  # an out-of-date form
        "only the flag",  # nothing but the red flag and the day
    ],
)
def test_a_red_flag_on_the_daily_log_never_waits_for_the_rest(
    client, app, patient, active_plan, broken
):
    """clinical-reference.md: the red flag works without filling in the whole log."""
    login_as(client, patient)
    data = fill_log(client, flags=["seizure"])
    if broken == "only the flag":
        data = {"red_flags": "seizure", "day": data["day"]}
    else:
        data.update(broken)
    response = client.post("/log", data=data)
    assert response.status_code == 200
    assert URGENT in response.text
    # The rest is not saved, and every answer typed comes back with "Back to my log".
    assert "Your daily log is not saved yet: everything you typed is kept." in response.text
    assert 'name="resume" value="1"' in response.text
    assert all_rows(app, DailyLog) == []
    (report,) = all_rows(app, RedFlagReport)
    assert report.flags == ["seizure"]
    (alert,) = all_rows(app, Alert)
    assert (alert.tier, alert.report_id) == ("urgent", report.id)


def test_a_repeated_red_flag_log_shows_urgent_care_again_and_saves_once(
    client, app, patient, active_plan
):
    login_as(client, patient)
    complete = fill_log(client, flags=["seizure"])
    broken = dict(fill_log(client, flags=["confusion"]), sleep_hours="lots")
    for data in (complete, complete, broken, broken):
        response = client.post("/log", data=data)
        assert response.status_code == 200
        assert URGENT in response.text
    assert len(all_rows(app, DailyLog)) == 1
    assert len(all_rows(app, RedFlagReport)) == 1
    assert [a.tier for a in all_rows(app, Alert)] == ["urgent", "urgent"]


def test_a_red_flag_ticked_on_a_form_already_saved_is_sent_not_dropped(
    client, app, patient, active_plan
):
    """Save, then Back to the same form (or a second tap while the first is on its way), a
    seizure ticked, Save again: the log stays as first saved, and the seizure is a report of
    its own with its urgent alert and the urgent-care page."""
    login_as(client, patient)
    data = fill_log(client)
    assert client.post("/log", data=data).status_code == 302
    again = client.post("/log", data=dict(data, red_flags=["seizure"], red_flags_when="now"))
    assert again.status_code == 200
    assert URGENT in again.text
    ((version, flags),) = [(log.version, log.red_flags) for log in all_rows(app, DailyLog)]
    assert (version, flags) == (1, [])
    (report,) = all_rows(app, RedFlagReport)
    assert (report.flags, report.source, report.when) == (["seizure"], "log", "now")
    (alert,) = all_rows(app, Alert)
    assert (alert.tier, alert.patient_id) == ("urgent", patient.id)


def test_a_flag_added_to_a_resent_red_flag_log_is_sent_too(client, app, patient, active_plan):
    """The first save carried a seizure; the same form sent again adds thoughts of self-harm:
    that one is sent as well (the seizure is not sent twice)."""
    login_as(client, patient)
    data = fill_log(client, flags=["seizure"], when="now")
    assert URGENT in client.post("/log", data=data).text
    again = client.post("/log", data=dict(data, red_flags=["seizure", "suicidal"]))
    assert URGENT in again.text
    stored = [log.red_flags for log in all_rows(app, DailyLog)]
    stored += [report.flags for report in all_rows(app, RedFlagReport)]
    assert stored == [["seizure"], ["suicidal"]]
    assert [a.tier for a in all_rows(app, Alert)] == ["urgent", "urgent"]
    assert (
        client.post("/log", data=dict(data, red_flags=["seizure", "suicidal"])).status_code == 200
    )
    assert len(all_rows(app, Alert)) == 2  # ... and not a third time


def test_a_correction_keeping_the_days_red_flag_alerts_no_one_again(
    client, app, patient, active_plan
):
    """The correction form comes back with the day's red flag ticked: changing only the sleep
    is not a new seizure, so no second urgent alert or e-mail. A flag said to be happening now
    is alerted every time (a second seizure the same evening reads exactly like the first)."""
    login_as(client, patient)
    assert URGENT in client.post("/log", data=fill_log(client, flags=["seizure"], when="past")).text
    form = client.get("/log").text
    assert 'value="seizure" checked' in form
    corrected = fill_log(client, flags=["seizure"], when="past", sleep="5")
    assert URGENT in client.post("/log", data=corrected).text  # still told where to get help
    assert [log.version for log in all_rows(app, DailyLog)] == [1, 2]
    assert [a.tier for a in all_rows(app, Alert)] == ["urgent"]
    assert len(all_rows(app, OutboxMessage)) == 1
    now = fill_log(client, flags=["seizure"], when="now", sleep="5")
    assert URGENT in client.post("/log", data=now).text
    urgent = [a for a in all_rows(app, Alert) if a.tier == "urgent"]
    assert len(urgent) == 2
    assert "happening now" in urgent[1].reason
    again = fill_log(client, flags=["seizure"], when="now", sleep="6")  # that evening, again
    assert URGENT in client.post("/log", data=again).text
    assert len([a for a in all_rows(app, Alert) if a.tier == "urgent"]) == 3


def test_a_form_error_without_red_flags_still_keeps_the_answers(client, app, patient, active_plan):
    login_as(client, patient)
    data = log_form(patient_today(patient), score=3, note="Rough night", flags=["not-a-flag"])
    data["sleep_hours"] = "lots"
    response = client.post("/log", data=data)
    assert response.status_code == 400
    assert "Rough night" in response.text
    assert all_rows(app, Alert) == all_rows(app, RedFlagReport) == []


@pytest.mark.app_config(URGENT_EMERGENCY_TEXT="Ring 112 now.", URGENT_EMERGENCY_NUMBER="112")
def test_the_clinic_sets_its_own_urgent_text(client, patient):
    login_as(client, patient)
    body = client.post("/help", data={"red_flags": "drowsy", "submission_id": "b" * 32}).get_data(
        as_text=True
    )
    assert "Ring 112 now." in body
    assert 'href="tel:112"' in body
    assert "whoever is with them" in body


def test_a_broken_notifier_loses_neither_the_page_nor_the_alert(
    client, app, patient, monkeypatch, active_plan
):
    """F7: the e-mail step blows up after the commit; the patient still sees urgent care."""

    def explode(*_args, **_kwargs):
        raise RuntimeError("mail system on fire")

    monkeypatch.setattr(notify, "_mail_server", explode)
    login_as(client, patient)
    response = client.post("/log", data=fill_log(client, flags=["seizure"]))
    assert response.status_code == 200
    assert URGENT in response.get_data(as_text=True)
    assert [a.tier for a in all_rows(app, Alert)] == ["urgent"]
    assert len(all_rows(app, DailyLog)) == 1
    assert all_rows(app, OutboxMessage)[0].sent_at is None


SMTP_PORT = free_port()


@pytest.mark.app_config(SMTP_PORT=SMTP_PORT, PUBLIC_URL="https://taper.example.org")
def test_urgent_alert_email_arrives_at_a_real_smtp_server(app, client, patient, clinician):
    with smtp_server(SMTP_PORT) as inbox:
        login_as(client, patient)
        client.post("/help", data={"red_flags": "confusion", "submission_id": "c" * 32})
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == [clinician.email]
    text = envelope.content.decode()
    assert "https://taper.example.org/clinician/alerts#alert-" in text
    assert "confusion" not in text.lower()
    assert all_rows(app, OutboxMessage)[0].sent_at is not None


RESEND_PORT = free_port()


@pytest.mark.app_config(SMTP_PORT=RESEND_PORT, MAIL_SENDER="Taper <taper@clinic.example.org>")
def test_a_message_sent_again_after_a_crash_keeps_its_message_id(app, client, patient, monkeypatch):
    """Delivery is at least once: a sender killed after the mail server took a message but
    before it was recorded sends it again; the resend is the same message (same Message-ID),
    and the record is committed before QUIT, so that window is one commit long."""
    import smtplib

    committed_at_quit = []
    real_quit = smtplib.SMTP.quit

    def quit_(smtp):
        committed_at_quit.append(not db.session().in_transaction())
        return real_quit(smtp)

    monkeypatch.setattr(smtplib.SMTP, "quit", quit_)
    with smtp_server(RESEND_PORT) as inbox:
        login_as(client, patient)
        client.post("/help", data={"red_flags": "seizure", "submission_id": "7" * 32})
        assert committed_at_quit == [True]
        with app.app_context():  # the crash: the send happened, its record did not
            (message,) = db.session.scalars(select(OutboxMessage)).all()
            expected = notify.message_id(message)
            message.sent_at = None
            db.session.commit()
            later = datetime.now(UTC) + notify.CLAIM_LEASE + timedelta(seconds=1)
            assert notify.send_pending(later) == (1, 0)  # SQLite: once the lease is over
    ids = [envelope.content.decode() for envelope in inbox.messages]
    assert len(ids) == 2
    assert re.fullmatch(r"<[0-9a-f]{32}@clinic\.example\.org>", expected)
    assert all(f"Message-ID: {expected}" in text for text in ids)


DEAD_PORT = free_port()


HUNG_PORT = free_port()


@pytest.mark.app_config(SMTP_PORT=HUNG_PORT, SMTP_TIMEOUT=60)
def test_a_hung_mail_server_holds_the_urgent_page_for_one_short_try(
    app, client, make_user, monkeypatch
):
    """Three clinicians to e-mail and a server that never answers: one short attempt while
    the patient waits, the rest left queued for `flask notify send`."""
    monkeypatch.setattr(notify, "IMMEDIATE_TIMEOUT", 0.5)
    team = [make_user(Role.CLINICIAN) for _ in range(3)]
    patient = make_user(Role.PATIENT, clinicians=tuple(team))
    login_as(client, patient)
    with silent_server(HUNG_PORT) as taken:
        response = client.post("/help", data={"red_flags": "seizure", "submission_id": "d" * 32})
        assert len(taken) == 1
    assert URGENT in response.text
    messages = all_rows(app, OutboxMessage)
    assert [m.sent_at for m in messages] == [None] * 3
    assert [m.attempts for m in messages] == [1, 0, 0]
    assert messages[0].last_error == "SMTPServerDisconnected"  # "timed out"


@pytest.mark.app_config(SMTP_PORT=DEAD_PORT, SMTP_TIMEOUT=2)
def test_dead_smtp_server_loses_nothing_and_cron_retries(app, client, runner, patient):
    login_as(client, patient)
    assert "Get urgent help now" in client.post(
        "/help", data={"red_flags": "seizure", "submission_id": "d" * 32}
    ).get_data(as_text=True)
    (message,) = all_rows(app, OutboxMessage)
    assert message.sent_at is None
    assert message.attempts == 1
    assert message.last_error

    # Later the server is back: `flask notify send` delivers once the backoff has passed.
    with smtp_server(DEAD_PORT) as inbox:
        result = runner.invoke(args=["notify", "send"])
        assert "Sent 0" in result.output  # still inside the backoff
        with app.app_context():
            sent, failed = notify.send_pending(datetime.now(UTC) + timedelta(minutes=5))
        assert (sent, failed) == (1, 0)
    assert len(inbox.messages) == 1
    assert len(all_rows(app, Alert)) == 1


STUCK_PORT = free_port()


@pytest.mark.app_config(SMTP_PORT=STUCK_PORT)
def test_a_message_failing_for_days_never_stops_the_ones_after_it(app, monkeypatch):
    """A message refused for good (a bad address) is retried at most hourly, however many
    times it has failed (the 42nd failure once overflowed the backoff inside the sender's
    error handler, and every later message, urgent ones too, was never sent again)."""
    assert [notify.backoff(n).total_seconds() / 60 for n in (1, 2, 3, 7, 42, 10**6)] == [
        1,
        2,
        4,
        60,
        60,
        60,
    ]
    with app.app_context():
        stuck = notify.queue("nobody@bad.example.org", "Taper", "stuck")
        later = notify.queue("clinician@clinic.example.org", "Taper", "urgent")
        db.session.flush()
        stuck.attempts = 41
        db.session.commit()
        stuck_id, later_id = stuck.id, later.id
    email = notify._email

    def refused_for_bad_addresses(message):  # as a mail server answers 550 for this address
        if message.to_email.endswith("@bad.example.org"):
            raise smtplib.SMTPRecipientsRefused({message.to_email: (550, b"no such user")})
        return email(message)

    monkeypatch.setattr(notify, "_email", refused_for_bad_addresses)
    now = datetime.now(UTC) + timedelta(seconds=1)  # both due
    with smtp_server(STUCK_PORT) as inbox, app.app_context():
        assert notify.send_pending(now) == (1, 1)
    assert [envelope.rcpt_tos for envelope in inbox.messages] == [["clinician@clinic.example.org"]]
    with app.app_context():
        stuck = db.session.get(OutboxMessage, stuck_id)
        assert stuck.attempts == 42
        assert stuck.next_attempt_at == now + timedelta(hours=1)
        assert db.session.get(OutboxMessage, later_id).sent_at is not None


def test_every_red_flag_report_is_an_alert_of_its_own(client, app, patient, clinician):
    """An open or acknowledged red-flag alert never swallows a new red flag."""
    login_as(client, patient)
    for token in ("e" * 32, "f" * 32):
        client.post("/help", data={"red_flags": "agitation", "submission_id": token})
    first, second = all_rows(app, Alert)
    login_as(client, clinician)
    client.post(f"/clinician/alerts/{first.id}/acknowledge", data={"note": "Calling now"})
    login_as(client, patient)
    page = client.post("/help", data={"red_flags": "suicidal", "submission_id": "9" * 32})
    assert "Your care team has been alerted" in page.text
    alerts = all_rows(app, Alert)
    assert [(a.tier, a.status) for a in alerts] == [
        ("urgent", AlertStatus.ACKNOWLEDGED),
        ("urgent", AlertStatus.OPEN),
        ("urgent", AlertStatus.OPEN),
    ]
    assert alerts[2].report_id == all_rows(app, RedFlagReport)[2].id
    assert [m.alert_id for m in all_rows(app, OutboxMessage)] == [a.id for a in alerts]


def test_one_open_review_alert_per_kind_and_a_new_one_after_resolving(
    client, app, patient, clinician, active_plan
):
    login_as(client, patient)
    today = patient_today(patient)
    for back in (1, 0):
        form = fill_log(client, today - timedelta(days=back), took="no", dose_taken="5")
        assert client.post("/log", data=form).status_code == 302
    (alert,) = all_rows(app, Alert)
    assert alert.tier == "review"
    login_as(client, clinician)
    client.post(f"/clinician/alerts/{alert.id}/resolve", data={"note": "Agreed a slower cut"})
    login_as(client, patient)
    client.post("/log", data=fill_log(client, today, took="no", dose_taken="5"))
    assert [a.status for a in all_rows(app, Alert)] == [AlertStatus.RESOLVED, AlertStatus.OPEN]
    assert all_rows(app, OutboxMessage) == []  # review alerts wait for the inbox


def test_an_acknowledged_deviation_does_not_hide_a_new_one(
    client, app, patient, clinician, active_plan
):
    """Issue 11: a new deviation after an acknowledgement is a new alert; while the alert is
    open, the next day's deviation is merged into it."""
    login_as(client, patient)
    today = patient_today(patient)
    for back in (2, 1):
        form = fill_log(client, today - timedelta(days=back), took="no", dose_taken="5")
        assert client.post("/log", data=form).status_code == 302
    (alert,) = all_rows(app, Alert)
    login_as(client, clinician)
    client.post(f"/clinician/alerts/{alert.id}/acknowledge", data={"note": "Will call"})
    login_as(client, patient)
    assert client.post("/log", data=fill_log(client, took="no", dose_taken="5")).status_code == 302
    first, second = all_rows(app, Alert)
    assert (first.status, second.status) == (AlertStatus.ACKNOWLEDGED, AlertStatus.OPEN)
    assert second.kind == "dose_deviation"
    assert second.plan_id == active_plan
    assert second.reason == "Diazepam: took 5 mg; scheduled 7.5 mg"


def test_inbox_orders_by_tier_and_records_who_acknowledged(
    client, app, patient, clinician, make_user, active_plan
):
    login_as(client, patient)
    client.post("/log", data=fill_log(client, took="no", dose_taken="5"))
    client.post("/help", data={"red_flags": "seizure", "submission_id": "1" * 32})
    with app.app_context():
        app.test_cli_runner().invoke(args=["alerts", "scan"])
    login_as(client, clinician)
    page = client.get("/clinician/alerts").get_data(as_text=True)
    assert page.index("Red flag") < page.index("Dose deviation")
    assert 'Alerts <span class="count">2' in page
    # A log's alert links to that day's log; a help report's to the patient's logs.
    day = patient_today(patient).isoformat()
    assert f'href="/clinician/patients/{patient.id}/logs/{day}">See the log of' in page
    assert f'href="/clinician/patients/{patient.id}/logs">See the logs' in page
    assert page.count('<label for="ack-note-') == 2  # a note can go with "Acknowledge"
    urgent = next(a for a in all_rows(app, Alert) if a.tier == "urgent")
    client.post(f"/clinician/alerts/{urgent.id}/acknowledge", data={"note": "Calling now"})
    with app.app_context():
        saved = db.session.get(Alert, urgent.id)
        assert saved.status is AlertStatus.ACKNOWLEDGED
        assert saved.acknowledged_by_id == clinician.id
        assert saved.acknowledged_at is not None
        assert "Calling now" in saved.note
    login_as(client, patient)
    assert "Your care team saw your urgent report" in client.get("/today").get_data(as_text=True)


def test_resolving_needs_a_note(client, app, patient, clinician):
    login_as(client, patient)
    client.post("/help", data={"red_flags": "seizure", "submission_id": "2" * 32})
    alert = all_rows(app, Alert)[0]
    login_as(client, clinician)
    page = client.post(
        f"/clinician/alerts/{alert.id}/resolve", data={"note": " "}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Write a short note" in page
    assert all_rows(app, Alert)[0].status is AlertStatus.OPEN


def test_other_clinicians_cannot_see_or_touch_alerts(client, app, patient, make_user):
    login_as(client, patient)
    client.post("/help", data={"red_flags": "seizure", "submission_id": "3" * 32})
    alert = all_rows(app, Alert)[0]
    outsider = make_user(Role.CLINICIAN)
    login_as(client, outsider)
    assert patient.name not in client.get("/clinician/alerts").get_data(as_text=True)
    for action in ("acknowledge", "resolve"):
        response = client.post(f"/clinician/alerts/{alert.id}/{action}", data={"note": "x"})
        assert response.status_code == 404
    assert all_rows(app, Alert)[0].status is AlertStatus.OPEN


def test_alert_scan_is_safe_to_run_twice(app, runner, patient, active_plan):
    first = runner.invoke(args=["alerts", "scan"])
    second = runner.invoke(args=["alerts", "scan"])
    assert first.output.splitlines() == [
        "Missed-log alerts raised: 1",
        "Plan-end review alerts raised: 0",  # the 5 mg step is 11 days ahead, not the end
    ]
    assert second.output.splitlines() == [
        "Missed-log alerts raised: 0",
        "Plan-end review alerts raised: 0",
    ]
    (alert,) = all_rows(app, Alert)
    assert (alert.kind, alert.tier) == ("missed_logs", "info")


def test_alert_scan_raises_the_plan_end_review_alert(
    app, runner, client, clinician, patient, write_plan
):
    today = patient_today(patient)
    login_as(client, clinician)
    plan_id = write_plan(
        patient,
        [(today - timedelta(days=7), "4", {}, ""), (today + timedelta(days=7), "3", {}, "")],
    )
    assert "Plan-end review alerts raised: 1" in runner.invoke(args=["alerts", "scan"]).output
    assert "Plan-end review alerts raised: 0" in runner.invoke(args=["alerts", "scan"]).output
    (alert,) = [a for a in all_rows(app, Alert) if a.kind == "plan_end"]
    assert (alert.tier, alert.plan_id) == ("review", plan_id)
    page = client.get("/clinician/alerts").text
    assert f'href="/clinician/plans/{plan_id}">Review the diazepam plan' in page


THRESHOLDS = {"high_score": "41", "rising_points": "10", "missed_days": "2", "plan_end_days": "7"}


def _thresholds_form(client, patient) -> dict:
    page = client.get(f"/clinician/patients/{patient.id}/alert-settings").get_data(as_text=True)
    seen = re.search(r'name="seen" type="hidden" value="([^"]*)"', page).group(1)
    return {**THRESHOLDS, "seen": seen}


def test_a_stale_thresholds_form_does_not_overwrite_a_colleagues_change(
    app, client, patient, clinician, make_user
):
    """Two clinicians open the page; the first saves 20; the second's form (opened before)
    is refused with what they are now, the values typed kept; saving again goes through."""
    from taper.models import Role

    colleague = make_user(Role.CLINICIAN, clinicians=(), name="Dr Colleague")
    with app.app_context():
        from taper.models import CareTeamLink

        db.session.add(CareTeamLink(clinician_id=colleague.id, patient_id=patient.id))
        db.session.commit()
    other = app.test_client()
    login_as(client, clinician)
    login_as(other, colleague)
    mine, theirs = _thresholds_form(client, patient), _thresholds_form(other, patient)
    url = f"/clinician/patients/{patient.id}/alert-settings"
    assert client.post(url, data={**mine, "high_score": "20"}).status_code == 302

    stale = other.post(url, data={**theirs, "missed_days": "5"})

    page = stale.get_data(as_text=True)
    assert stale.status_code == 400
    assert "Someone changed these thresholds since you opened this page" in page
    assert "high score 20" in page
    assert 'name="missed_days" type="number" value="5"' in page or 'value="5"' in page
    with app.app_context():
        assert db.session.get(AlertSettings, patient.id).thresholds["high_score"] == 20
    seen = re.search(r'name="seen" type="hidden" value="([^"]*)"', page).group(1)
    again = other.post(url, data={**theirs, "seen": seen, "high_score": "20", "missed_days": "5"})
    assert again.status_code == 302
    with app.app_context():
        stored = db.session.get(AlertSettings, patient.id).thresholds
    assert (stored["high_score"], stored["missed_days"]) == (20, 5)


def test_a_double_clicked_threshold_save_is_saved_once_not_refused(app, client, patient, clinician):
    login_as(client, clinician)
    form = {**_thresholds_form(client, patient), "high_score": "25"}
    url = f"/clinician/patients/{patient.id}/alert-settings"
    assert [client.post(url, data=form).status_code for _ in range(2)] == [302, 302]
    with app.app_context():
        assert db.session.get(AlertSettings, patient.id).thresholds["high_score"] == 25
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "alert.thresholds")
        ).all()
    assert len(events) == 1


def test_two_first_threshold_saves_at_once_never_500(shared_app, monkeypatch):
    import threading

    from taper import access
    from taper.models import CareTeamLink, Role, User
    from tests.conftest import PASSWORD_HASH

    with shared_app.app_context():
        people = [
            User(role=role, email=f"{n}@example.org", name=n, password_hash=PASSWORD_HASH)
            for role, n in ((Role.CLINICIAN, "A"), (Role.CLINICIAN, "B"), (Role.PATIENT, "P"))
        ]
        db.session.add_all(people)
        db.session.flush()
        *clinicians, patient = people
        db.session.add_all(
            CareTeamLink(clinician_id=c.id, patient_id=patient.id) for c in clinicians
        )
        db.session.commit()
        identities = [c.get_id() for c in clinicians]
        patient_id = patient.id
    browsers = []
    for identity in identities:
        browser = shared_app.test_client()
        with browser.session_transaction() as session:
            session.update(_user_id=identity, login_at=9e9, seen_at=9e9, auth_at=9e9)
        browsers.append(browser)

    class _Patient:
        id = patient_id

    forms = [_thresholds_form(b, _Patient) for b in browsers]
    barrier = threading.Barrier(2, timeout=10)
    found = access.patient_or_404

    def in_step(user, wanted):
        loaded = found(user, wanted)
        barrier.wait()
        return loaded

    monkeypatch.setattr(access, "patient_or_404", in_step)
    statuses = []

    def save(browser, form, high):
        url = f"/clinician/patients/{patient_id}/alert-settings"
        statuses.append(browser.post(url, data={**form, "high_score": high}).status_code)

    threads = [
        threading.Thread(target=save, args=(b, f, h))
        for b, f, h in zip(browsers, forms, ("20", "30"), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [302, 400]


def test_clinician_tunes_thresholds_and_the_rules_follow(
    client, app, patient, clinician, active_plan
):
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/alert-settings").get_data(as_text=True)
    assert 'value="41"' in page
    bad = client.post(
        f"/clinician/patients/{patient.id}/alert-settings", data={**THRESHOLDS, "high_score": "0"}
    )
    assert bad.status_code == 400
    client.post(
        f"/clinician/patients/{patient.id}/alert-settings",
        data={**THRESHOLDS, "high_score": "30", "plan_end_days": "20"},
    )
    with app.app_context():
        stored = db.session.get(AlertSettings, patient.id).thresholds
    assert stored == {"high_score": 30, "rising_points": 10, "missed_days": 2, "plan_end_days": 20}
    login_as(client, patient)
    client.post("/log", data=fill_log(client, score=2))  # 34 points
    assert [a.kind for a in all_rows(app, Alert)] == ["high_score"]
