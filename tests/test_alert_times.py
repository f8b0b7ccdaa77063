"""Times a clinician reads about a patient (issue 15, item 10): "12 minutes ago (14:00)" in
the reader's own time zone on the alert inbox and the patient page, never "… UTC"; the urgent
tag says "Urgent" in words, not only in red. And every page about one patient names them and
links back to their page (item 9)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taper.extensions import db
from taper.models import Alert, AlertStatus, DailyLog, Role, User
from taper.templating import local_time, time_ago
from tests.conftest import login_as
from tests.helpers import fill_log, patient_today

READER_ZONE = "Asia/Tokyo"  # far from UTC and from the patient's New York
CARE_CSS = Path(__file__).resolve().parent.parent / "static" / "css" / "care.css"


@pytest.fixture
def reader(make_user):
    return make_user(Role.CLINICIAN, name="Dr Kenji Mori", timezone=READER_ZONE)


@pytest.fixture
def their_patient(make_user, reader):
    return make_user(Role.PATIENT, name="Noor Patient", clinicians=(reader,))


def add_alert(app, patient, *, tier="urgent", kind="red_flag", ago=timedelta(minutes=12), **more):
    with app.app_context():
        alert = Alert(
            patient_id=patient.id,
            kind=kind,
            tier=tier,
            reason=f"{kind} reason",
            created_at=datetime.now(UTC) - ago,
            **more,
        )
        db.session.add(alert)
        db.session.commit()
        return alert.id, alert.created_at


def meta_of(page: str, alert_id: int) -> str:
    """The "Raised … Acknowledged …" line of one alert card in the inbox."""
    card = re.search(rf'id="alert-{alert_id}">(.*?)</li>', page, re.S).group(1)
    return re.search(r'<p class="meta">(.*?)</p>', card, re.S).group(1)


def test_inbox_says_how_long_ago_an_alert_was_raised_in_the_readers_zone(
    app, client, reader, their_patient
):
    alert_id, raised = add_alert(app, their_patient)
    login_as(client, reader)

    page = client.get("/clinician/alerts").get_data(as_text=True)

    meta = meta_of(page, alert_id)
    clock = local_time(raised, READER_ZONE, with_day=False)
    assert f"Raised 12 minutes ago ({clock})." in meta
    assert "UTC" not in meta
    assert clock != local_time(raised, "UTC", with_day=False)  # the reader's clock, not UTC's


def test_inbox_says_when_and_by_whom_an_alert_was_acknowledged(app, client, reader, their_patient):
    acked_at = datetime.now(UTC) - timedelta(minutes=3)
    alert_id, _ = add_alert(
        app,
        their_patient,
        tier="review",
        kind="high_score",
        ago=timedelta(days=3),
        status=AlertStatus.ACKNOWLEDGED,
        acknowledged_by_id=reader.id,
        acknowledged_at=acked_at,
    )
    login_as(client, reader)

    meta = meta_of(client.get("/clinician/alerts").get_data(as_text=True), alert_id)

    clock = local_time(acked_at, READER_ZONE, with_day=False)
    assert f"Acknowledged by Dr Kenji Mori 3 minutes ago ({clock})." in meta
    assert "Raised 3 days ago (" in meta  # older than a day: the date is given too
    assert "UTC" not in meta


def test_the_urgent_tag_says_urgent_in_words(app, client, reader, their_patient):
    add_alert(app, their_patient)
    add_alert(app, their_patient, tier="review", kind="high_score")
    login_as(client, reader)

    inbox = client.get("/clinician/alerts").get_data(as_text=True)
    patient_page = client.get(f"/clinician/patients/{their_patient.id}").get_data(as_text=True)

    for page in (inbox, patient_page):
        assert '<span class="tag tier-urgent">Urgent</span>' in page
        assert '<span class="tag tier-review">Review</span>' in page
        assert "css/care.css" in page  # where the tag is made red


def test_the_urgent_tag_is_red_with_light_text_in_the_stylesheet():
    css = CARE_CSS.read_text()
    rule = re.search(r"\.tag\.tier-urgent\s*\{([^}]*)\}", css).group(1)
    assert "background: var(--alarm-bg, #b00020)" in rule
    assert "color: var(--alarm-ink, #fff)" in rule


def test_patient_page_lists_unresolved_alerts_with_their_times(
    app, client, reader, their_patient, make_user
):
    open_id, raised = add_alert(app, their_patient, ago=timedelta(hours=2))
    acked_at = datetime.now(UTC) - timedelta(minutes=40)
    add_alert(
        app,
        their_patient,
        tier="review",
        kind="rising_score",
        status=AlertStatus.ACKNOWLEDGED,
        acknowledged_by_id=reader.id,
        acknowledged_at=acked_at,
    )
    add_alert(app, their_patient, tier="info", kind="missed_logs", status=AlertStatus.RESOLVED)
    stranger = make_user(Role.PATIENT)
    add_alert(app, stranger, tier="review", kind="note")
    login_as(client, reader)

    page = client.get(f"/clinician/patients/{their_patient.id}").get_data(as_text=True)

    section = page[page.index('id="alerts-heading"') :]
    assert f"Raised {time_ago(raised, READER_ZONE)}." in section
    assert "Not yet acknowledged." in section
    clock = local_time(acked_at, READER_ZONE, with_day=False)
    assert f"Acknowledged by Dr Kenji Mori 40 minutes ago ({clock})." in section
    assert "Rising score" in section
    assert "Missed logs" not in section  # resolved
    assert "Note" not in section  # someone else's
    assert section.index("Red flag") < section.index("Rising score")  # urgent first
    assert "UTC" not in section


def test_patient_page_says_when_there_are_no_open_alerts(client, reader, their_patient):
    login_as(client, reader)
    page = client.get(f"/clinician/patients/{their_patient.id}").get_data(as_text=True)
    assert "No open alerts." in page


# --- a day's log and the history: named, linked back, local times ---------------------------


@pytest.fixture
def logged_day(app, client, their_patient):
    login_as(client, their_patient)
    assert client.post("/log", data=fill_log(client, note="Fine")).status_code == 302
    with app.app_context():
        saved = db.session.query(DailyLog).filter_by(patient_id=their_patient.id).one().created_at
    return patient_today(their_patient), saved


def test_clinicians_day_page_names_the_patient_links_back_and_reads_their_own_clock(
    app, client, reader, their_patient, logged_day
):
    day, saved = logged_day
    login_as(client, reader)

    page = client.get(f"/clinician/patients/{their_patient.id}/logs/{day.isoformat()}")

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    back = f'<a href="/clinician/patients/{their_patient.id}">'
    assert back in text
    assert "Back to Noor Patient" in text
    assert "<h1>Noor Patient: log of" in text
    assert (
        f'href="/clinician/patients/{their_patient.id}/logs">All daily logs of Noor Patient' in text
    )
    assert f"saved {local_time(saved, READER_ZONE)}</h2>" in text
    assert " UTC" not in text


def test_patients_own_day_page_has_no_way_back_to_a_clinician_page(
    client, their_patient, logged_day
):
    day, saved = logged_day

    text = client.get(f"/history/{day.isoformat()}").get_data(as_text=True)

    assert "/clinician/" not in text
    assert "Back to" not in text
    assert f"saved {local_time(saved, their_patient.timezone)}</h2>" in text


def test_clinicians_history_page_names_the_patient_and_links_back(
    client, reader, their_patient, logged_day
):
    login_as(client, reader)

    text = client.get(f"/clinician/patients/{their_patient.id}/logs").get_data(as_text=True)

    assert f'<a href="/clinician/patients/{their_patient.id}">' in text
    assert "Back to Noor Patient" in text
    assert "Daily logs of Noor Patient" in text


def test_the_patient_header_offers_the_phone_number_when_there_is_one(
    app, client, reader, their_patient, logged_day
):
    with app.app_context():
        db.session.get(User, their_patient.id).phone = "07700 900123"
        db.session.commit()
    login_as(client, reader)

    for url in (
        f"/clinician/patients/{their_patient.id}/logs",
        f"/clinician/patients/{their_patient.id}/logs/{logged_day[0].isoformat()}",
        f"/clinician/patients/{their_patient.id}/assessments/new",
        f"/clinician/patients/{their_patient.id}/alert-settings",
    ):
        text = client.get(url).get_data(as_text=True)
        assert 'href="tel:07700900123">Call 07700 900123' in text, url
        assert "Back to Noor Patient" in text, url
