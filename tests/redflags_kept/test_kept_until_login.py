"""F9: a red flag sent after the session expired, or with a stale form, shows urgent care at
once, is kept signed on the device, and is sent when its patient logs in; never as anyone
else's, never twice, never after it expired."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer

from taper.kept_reports import COOKIE, MAX_KEPT, SALT
from taper.models import Alert, OutboxMessage, RedFlagReport, Role
from taper.services import notify
from tests.conftest import PASSWORD, login_as, real_login
from tests.helpers import fill_log
from tests.redflags_kept.support import (
    KEPT,
    SENT_NOW,
    UNSENT,
    URGENT,
    WAITING,
    csrf_token,
    kept_cookie,
    rows,
)

MAY_4 = datetime(2026, 5, 4, 13, 0, tzinfo=UTC)  # 09:00 in New York


def test_a_red_flag_after_the_session_expired_is_kept_then_sent_once_at_login(
    app, client, patient, clinician
):
    with time_machine.travel(MAY_4, tick=False) as clock:
        login_as(client, patient)
        data = fill_log(client, flags=["seizure"])
        data["red_flags_when"] = "past"
        clock.shift(timedelta(minutes=31))  # past IDLE_TIMEOUT
        response = client.post("/log", data=data)
        assert response.status_code == 200
        assert URGENT in response.text
        assert KEPT in response.text
        assert "A seizure or fit" in response.text
        kept = kept_cookie(client)
        assert kept
        assert rows(app, RedFlagReport) == rows(app, Alert) == []
        assert WAITING in client.get("/login").text

        clock.shift(timedelta(minutes=5))
        page = real_login(client, patient.email, follow_redirects=True)
        assert (
            "Your urgent report from 4 May 2026 at 09:31 has now been sent to your care team."
            in page.text
        )
        (report,) = rows(app, RedFlagReport)
        assert (report.patient_id, report.flags, report.when) == (patient.id, ["seizure"], "past")
        assert (report.source, report.submission_id) == ("kept", data["submission_id"])
        assert report.reported_at == MAY_4 + timedelta(minutes=31)
        (alert,) = rows(app, Alert)
        assert (alert.kind, alert.tier, alert.report_id) == ("red_flag", "urgent", report.id)
        assert [m.to_email for m in rows(app, OutboxMessage)] == [clinician.email]
        assert kept_cookie(client) is None

        # A second login sends nothing; nor does the old cookie played back.
        client.post("/logout")
        assert SENT_NOW not in real_login(client, patient.email, follow_redirects=True).text
        client.post("/logout")
        client.set_cookie(COOKIE, kept)
        assert SENT_NOW not in real_login(client, patient.email, follow_redirects=True).text
        assert len(rows(app, RedFlagReport)) == len(rows(app, Alert)) == 1
        assert kept_cookie(client) is None


def test_a_flag_added_to_a_stored_form_after_the_session_expired_is_sent_at_login(
    app, client, patient
):
    """The log is stored with a seizure; Back to the same form, thoughts of self-harm ticked
    too, Save once the session has expired: that flag is kept, and sent at login (the seizure,
    stored already, is not sent twice)."""
    with time_machine.travel(MAY_4, tick=False) as clock:
        login_as(client, patient)
        data = fill_log(client, flags=["seizure"], when="now")
        assert URGENT in client.post("/log", data=data).text
        clock.shift(timedelta(minutes=31))  # past IDLE_TIMEOUT
        response = client.post("/log", data=dict(data, red_flags=["seizure", "suicidal"]))
        assert KEPT in response.text
        clock.shift(timedelta(minutes=2))
        page = real_login(client, patient.email, follow_redirects=True)
        assert SENT_NOW in page.text
        (report,) = rows(app, RedFlagReport)
        assert (report.flags, report.source) == (["suicidal"], "kept")
        assert [a.tier for a in rows(app, Alert)] == ["urgent", "urgent"]
        assert kept_cookie(client) is None
        client.post("/logout")
        real_login(client, patient.email)
        assert len(rows(app, RedFlagReport)) == 1


def test_a_red_flag_from_a_stale_session_is_sent_at_its_next_request(app, client, patient):
    """The session's user is no longer valid (signed out elsewhere): kept as that user's,
    sent on the first request after they log in again."""
    login_as(client, patient)
    with client.session_transaction() as session:
        session["_user_id"] = f"{patient.id}:999"  # an ended session version
    response = client.post("/help", data={"red_flags": "breathing", "submission_id": "b" * 32})
    assert KEPT in response.text
    assert rows(app, RedFlagReport) == []
    login_as(client, patient)
    assert SENT_NOW in client.get("/today").text
    (report,) = rows(app, RedFlagReport)
    assert (report.patient_id, report.flags, report.source) == (patient.id, ["breathing"], "kept")
    assert kept_cookie(client) is None


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_no_session_and_no_valid_token_on_help_is_kept_then_sent_at_login(app, client, patient):
    response = client.post(
        "/help",
        data={"red_flags": "suicidal", "red_flags_when": "now", "submission_id": "a" * 32},
    )
    assert response.status_code == 200
    assert URGENT in response.text
    assert "call or text 988" in response.text
    assert KEPT in response.text
    assert kept_cookie(client)
    assert rows(app, RedFlagReport) == []

    page = client.get("/login").text
    assert WAITING in page
    response = client.post(
        "/login",
        data={"email": patient.email, "password": PASSWORD, "csrf_token": csrf_token(page)},
        follow_redirects=True,
    )
    assert SENT_NOW in response.text
    (report,) = rows(app, RedFlagReport)
    assert (report.patient_id, report.flags, report.when) == (patient.id, ["suicidal"], "now")
    assert (report.source, report.submission_id) == ("kept", "a" * 32)
    assert [a.tier for a in rows(app, Alert)] == ["urgent"]
    assert WAITING not in client.get("/login").text  # signed in: straight to Today
    assert kept_cookie(client) is None


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_a_stale_token_in_a_live_session_is_kept_and_sent_at_the_next_page(app, client, patient):
    login_as(client, patient)
    response = client.post(
        "/log", data={"red_flags": "confusion", "csrf_token": "stale", "submission_id": "c" * 32}
    )
    assert (response.status_code, KEPT in response.text) == (200, True)
    assert rows(app, RedFlagReport) == []
    assert SENT_NOW in client.get("/today").text
    (report,) = rows(app, RedFlagReport)
    assert (report.flags, report.source) == (["confusion"], "kept")


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_a_tokenless_red_flag_from_another_site_shows_urgent_care_but_is_not_kept(
    app, client, patient
):
    """A cross-site form cannot plant a report to be sent in the patient's name."""
    response = client.post(
        "/help",
        data={"red_flags": "seizure", "submission_id": "d" * 32},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert URGENT in response.text
    assert UNSENT in response.text
    assert kept_cookie(client) is None
    real_login(client, patient.email)
    assert rows(app, RedFlagReport) == []


def test_a_kept_report_of_patient_a_is_never_sent_as_anyone_elses(
    app, client, make_user, clinician, admin
):
    a = make_user(Role.PATIENT, clinicians=(clinician,))
    b = make_user(Role.PATIENT, clinicians=(clinician,))
    with time_machine.travel(MAY_4, tick=False) as clock:
        login_as(client, a)
        clock.shift(timedelta(hours=1))
        client.post("/help", data={"red_flags": "seizure", "submission_id": "e" * 32})
        assert kept_cookie(client)
        for other in (b, clinician, admin):
            page = real_login(client, other.email, follow_redirects=True)
            assert SENT_NOW not in page.text
            client.post("/logout")
        assert rows(app, RedFlagReport) == []
        assert kept_cookie(client)
        assert SENT_NOW in real_login(client, a.email, follow_redirects=True).text
    (report,) = rows(app, RedFlagReport)
    assert report.patient_id == a.id


def test_a_clinician_logging_in_sends_a_report_of_nobody_nothing(app, client, clinician):
    client.post("/help", data={"red_flags": "seizure", "submission_id": "f" * 32})
    assert kept_cookie(client)
    assert SENT_NOW not in real_login(client, clinician.email, follow_redirects=True).text
    assert rows(app, RedFlagReport) == []
    assert kept_cookie(client)


def test_a_report_older_than_pending_report_hours_is_not_sent(app, client, patient):
    with time_machine.travel(MAY_4, tick=False) as clock:
        client.post("/help", data={"red_flags": "seizure", "submission_id": "1" * 32})
        assert kept_cookie(client)
        clock.shift(timedelta(hours=24, minutes=1))
        assert WAITING not in client.get("/login").text
        response = real_login(client, patient.email, follow_redirects=True)
        assert response.status_code == 200
        assert SENT_NOW not in response.text
    assert rows(app, RedFlagReport) == []
    assert kept_cookie(client) is None


def _signed(key: str, reports) -> str:
    return URLSafeTimedSerializer(key, salt=SALT).dumps(reports)


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param("garbage", id="not-signed"),
        pytest.param(
            _signed("someone-elses-key", [{"f": ["seizure"], "w": "", "s": "2" * 32, "t": 0}]),
            id="other-key",
        ),
        pytest.param("tampered", id="tampered"),
        pytest.param(_signed("testing-secret", {"f": "seizure"}), id="not-a-list"),
        pytest.param(
            _signed("testing-secret", [{"f": "seizure", "w": 1, "s": "x", "t": "now"}]),
            id="malformed-report",
        ),
    ],
)
def test_a_forged_or_broken_cookie_sends_nothing_and_breaks_nothing(app, client, patient, cookie):
    if cookie == "tampered":
        client.post("/help", data={"red_flags": "seizure", "submission_id": "3" * 32})
        value = kept_cookie(client)
        cookie = value[:10] + ("A" if value[10] != "A" else "B") + value[11:]
    client.set_cookie(COOKIE, cookie)
    assert WAITING not in client.get("/login").text
    response = real_login(client, patient.email, follow_redirects=True)
    assert response.status_code == 200
    assert SENT_NOW not in response.text
    assert rows(app, RedFlagReport) == []
    assert kept_cookie(client) is None  # removed from the device


def test_only_the_newest_few_reports_are_kept(app, client, patient):
    with time_machine.travel(MAY_4, tick=False) as clock:
        for n in range(MAX_KEPT + 2):
            clock.shift(timedelta(minutes=1))
            client.post("/help", data={"red_flags": "seizure", "submission_id": f"{n:032x}"})
        assert len(kept_cookie(client)) < 1500
        page = real_login(client, patient.email, follow_redirects=True).text
    assert page.count(SENT_NOW) == MAX_KEPT
    assert [r.submission_id for r in rows(app, RedFlagReport)] == [
        f"{n:032x}" for n in range(2, MAX_KEPT + 2)
    ]


def test_a_broken_notifier_does_not_stop_a_kept_report(app, client, patient, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("mail system on fire")

    monkeypatch.setattr(notify, "_mail_server", explode)
    client.post("/help", data={"red_flags": "fainting", "submission_id": "4" * 32})
    assert SENT_NOW in real_login(client, patient.email, follow_redirects=True).text
    assert [a.tier for a in rows(app, Alert)] == ["urgent"]
    assert rows(app, OutboxMessage)[0].sent_at is None
    assert kept_cookie(client) is None


@pytest.mark.app_config(SESSION_COOKIE_SECURE=True, PENDING_REPORT_HOURS=6)
def test_the_kept_cookie_is_signed_short_lived_and_not_for_scripts(client):
    response = client.post("/help", data={"red_flags": "seizure", "submission_id": "5" * 32})
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE)]
    for part in ("Secure", "HttpOnly", "SameSite=Lax", "Max-Age=21600", "Path=/"):
        assert part in header
