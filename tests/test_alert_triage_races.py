"""Two clinicians triaging one alert at once, or one of them from a page loaded before the
other acted: the alert's row is locked, so the second sees the first's change; nothing is
undone, no audit row is doubled, and a note the second typed is kept."""

import threading

import pytest
from sqlalchemy import select

from taper import access
from taper.extensions import db
from taper.models import Alert, AlertStatus, AuditEvent, CareTeamLink, Role, User
from tests.conftest import PASSWORD_HASH


def _team(app) -> tuple[str, str, int]:
    """Two clinicians of one patient with an open review alert: their identities, its id."""
    with app.app_context():
        people = [
            User(role=role, email=f"{name}@example.org", name=name, password_hash=PASSWORD_HASH)
            for role, name in (
                (Role.CLINICIAN, "DrA"),
                (Role.CLINICIAN, "DrB"),
                (Role.PATIENT, "Pat"),
            )
        ]
        db.session.add_all(people)
        db.session.flush()
        first, second, patient = people
        db.session.add_all(
            CareTeamLink(clinician_id=c.id, patient_id=patient.id) for c in (first, second)
        )
        alert = Alert(patient_id=patient.id, kind="high_score", tier="review", reason="High")
        db.session.add(alert)
        db.session.commit()
        return first.get_id(), second.get_id(), alert.id


def _browser(app, identity: str):
    browser = app.test_client()
    with browser.session_transaction() as session:
        session.update(_user_id=identity, login_at=9e9, seen_at=9e9, auth_at=9e9)
    return browser


def _state(app, alert_id: int):
    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        actions = db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action != "alert.view")  # the inbox each redirect lands on
            .order_by(AuditEvent.id)
        ).all()
        return alert.status, alert.note, actions


def _at_once(app, monkeypatch, posts) -> list[str]:
    """Send the posts from two threads, both past loading the alert before either acts."""
    barrier = threading.Barrier(len(posts), timeout=10)
    found = access.alert_or_404

    def in_step(user, alert_id):
        alert = found(user, alert_id)
        barrier.wait()
        return alert

    monkeypatch.setattr(access, "alert_or_404", in_step)
    pages: list[str] = []

    def send(identity, url, note):
        response = _browser(app, identity).post(url, data={"note": note}, follow_redirects=True)
        pages.append(response.get_data(as_text=True))

    threads = [threading.Thread(target=send, args=post) for post in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return pages


def test_two_acknowledgements_at_once_are_one_and_both_notes_are_kept(shared_app, monkeypatch):
    first, second, alert_id = _team(shared_app)
    url = f"/clinician/alerts/{alert_id}/acknowledge"
    pages = _at_once(shared_app, monkeypatch, [(first, url, "Called her"), (second, url, "Texted")])
    status, note, actions = _state(shared_app, alert_id)
    assert status is AlertStatus.ACKNOWLEDGED
    assert sorted(actions) == ["alert.acknowledge", "alert.note"]
    assert "Called her" in note
    assert "Texted" in note
    told = [p for p in pages if "already been acknowledged. Your note was added to it." in p]
    assert len(told) == 1


@pytest.mark.parametrize("late", ["acknowledge", "resolve"])
def test_a_resolved_alert_stays_resolved_whatever_comes_after(shared_app, late):
    """A colleague resolved it while this page was open: a late Acknowledge (or Resolve) does
    not bring it back to the inbox; its note is added."""
    first, second, alert_id = _team(shared_app)
    resolved = _browser(shared_app, first).post(
        f"/clinician/alerts/{alert_id}/resolve", data={"note": "Seen at the clinic"}
    )
    assert resolved.status_code == 302
    page = _browser(shared_app, second).post(
        f"/clinician/alerts/{alert_id}/{late}",
        data={"note": "Left a message"},
        follow_redirects=True,
    )
    status, note, actions = _state(shared_app, alert_id)
    assert status is AlertStatus.RESOLVED
    assert actions == ["alert.resolve", "alert.note"]
    assert note.endswith("DrB: Left a message")
    assert "Your note was added to it." in page.get_data(as_text=True)


def test_acknowledge_and_resolve_at_once_end_resolved(shared_app, monkeypatch):
    first, second, alert_id = _team(shared_app)
    pages = _at_once(
        shared_app,
        monkeypatch,
        [
            (first, f"/clinician/alerts/{alert_id}/acknowledge", "Seen"),
            (second, f"/clinician/alerts/{alert_id}/resolve", "Sorted at the visit"),
        ],
    )
    status, note, actions = _state(shared_app, alert_id)
    assert len(pages) == 2
    assert "Sorted at the visit" in note
    assert "Seen" in note
    # Whichever went first, the resolve is never undone.
    assert status is AlertStatus.RESOLVED
    assert actions.count("alert.resolve") == 1


def test_a_late_acknowledge_without_a_note_is_only_told(shared_app):
    first, second, alert_id = _team(shared_app)
    _browser(shared_app, first).post(f"/clinician/alerts/{alert_id}/acknowledge", data={"note": ""})
    page = _browser(shared_app, second).post(
        f"/clinician/alerts/{alert_id}/acknowledge", data={"note": ""}, follow_redirects=True
    )
    assert "This alert has already been acknowledged." in page.get_data(as_text=True)
    assert _state(shared_app, alert_id)[2] == ["alert.acknowledge"]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_a_double_click_keeps_the_note_once(shared_app, action):
    first, _, alert_id = _team(shared_app)
    browser = _browser(shared_app, first)
    for _ in range(2):
        browser.post(f"/clinician/alerts/{alert_id}/{action}", data={"note": "Called her"})
    _, note, actions = _state(shared_app, alert_id)
    assert note == "DrA: Called her"
    assert actions == [f"alert.{action}"]
