"""Revisions are immutable, concurrent edits conflict, schedule changes need a fresh password."""

import re
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import AuditEvent, PlanRevision, Role, TaperPlan
from tests.conftest import PASSWORD, login_as
from tests.helpers import patient_today, plan_form, six_steps, version_of
from tests.plans.timeline_posts import confirmed

START = date(2026, 3, 2)


def test_second_clinician_saving_a_stale_plan_gets_409_and_keeps_their_typing(
    client, app, clinician, patient, make_user, write_plan
):
    """F3: both opened the editor at the same version; the second save is refused."""
    colleague = make_user(Role.CLINICIAN, name="Dr Second")
    with app.app_context():
        from taper.models import CareTeamLink

        db.session.add(CareTeamLink(clinician_id=colleague.id, patient_id=patient.id))
        db.session.commit()
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(START))
    seen_version = version_of(app, plan_id)

    first = six_steps(START)[:5]
    response = client.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(first, reason="First edit", version=seen_version),
    )
    assert response.status_code == 302

    other = app.test_client()
    login_as(other, colleague)
    mine = six_steps(START)
    mine[5] = (mine[5][0], "8.125", {}, "My typed note")
    response = other.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(mine, reason="Second edit", version=seen_version),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "This plan was changed since you opened this page" in page
    assert 'value="8.125"' in page
    assert "My typed note" in page
    assert "Second edit" in page
    assert "The plan as it is now (revision 2)" in page
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        assert [r.reason for r in plan.revisions] == ["", "First edit"]

    # Having seen the current plan, the colleague saves again and it goes through.
    new_version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    response = other.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(mine, reason="Second edit", version=new_version),
    )
    assert response.status_code == 302


def test_stale_hold_is_refused_with_409(client, app, clinician, patient, write_plan):
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(patient_today(patient)))
    stale = version_of(app, plan_id) - 1
    response = confirmed(
        client, f"/clinician/plans/{plan_id}/hold", patient, reason="x", version=stale
    )
    assert response.status_code == 409
    with app.app_context():
        assert db.session.get(TaperPlan, plan_id).current_revision.hold_start is None


def test_after_a_409_the_page_offers_the_current_version(
    client, app, clinician, patient, write_plan
):
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(patient_today(patient)))
    current = version_of(app, plan_id)
    refused = confirmed(
        client, f"/clinician/plans/{plan_id}/hold", patient, reason="x", version=current - 1
    )
    assert refused.status_code == 409
    offered = set(re.findall(r'name="version" type="hidden" value="(\d+)"', refused.text))
    assert offered == {str(current)}
    again = confirmed(
        client, f"/clinician/plans/{plan_id}/hold", patient, reason="Re-sent", version=current
    )
    assert again.status_code == 302
    with app.app_context():
        held = db.session.get(TaperPlan, plan_id).current_revision.hold_start
        assert held == patient_today(patient)


def test_two_saves_at_the_same_instant_give_one_revision_and_one_409(shared_app, monkeypatch):
    """Both requests pass the version check before either writes: the database decides."""
    from taper.services import accounts
    from taper.services import plans as plan_service

    app = shared_app
    with app.app_context():
        first, second, patient = (
            accounts.create_user(None, email=f"{name}@race.example.org", name=name, role=role)
            for name, role in (("a", Role.CLINICIAN), ("b", Role.CLINICIAN), ("p", Role.PATIENT))
        )
        for clinician in (first, second):
            accounts.add_to_care_team(None, clinician, patient)
        db.session.commit()
        people = [db.session.get(type(first), u.id) for u in (first, second, patient)]
        for user in people:
            db.session.expunge(user)
    first, second, patient = people
    writer = app.test_client()
    login_as(writer, first)
    steps = six_steps(date(2026, 3, 2))
    created = writer.post(f"/clinician/patients/{patient.id}/plans/new", data=plan_form(steps))
    plan_id = int(created.headers["Location"].rsplit("/", 1)[1])
    version = version_of(app, plan_id)

    barrier = threading.Barrier(2, timeout=10)
    check = plan_service._check_version

    def check_then_wait(plan, expected):
        check(plan, expected)
        barrier.wait()

    monkeypatch.setattr(plan_service, "_check_version", check_then_wait)
    statuses = {}

    def save(user, note):
        browser = app.test_client()
        login_as(browser, user)
        typed = [*steps[:5], (steps[5][0], "0", {}, note)]
        response = browser.post(
            f"/clinician/plans/{plan_id}/edit",
            data=plan_form(typed, reason=note, version=version),
        )
        statuses[note] = (response.status_code, note in response.text)

    threads = [threading.Thread(target=save, args=a) for a in ((first, "by A"), (second, "by B"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(code for code, _ in statuses.values()) == [302, 409]
    loser = next(note for note, (code, _) in statuses.items() if code == 409)
    assert statuses[loser][1]  # what the loser typed is still on their page
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        assert plan.current_revision.number == 2
        assert len(plan.revisions) == 2


def test_history_stays_intact_after_many_edits(client, app, clinician, patient, write_plan):
    """F4: every revision keeps exactly the steps saved in it."""
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(START))
    saved = {1: [Decimal(x) for x in ("20", "17.5", "15", "12.5", "10", "7.5")]}
    for n in range(2, 22):
        last = f"{7 + n * 0.125:.3f}"
        steps = six_steps(START)
        steps[5] = (steps[5][0], last, {}, f"edit {n}")
        response = client.post(
            f"/clinician/plans/{plan_id}/edit",
            data=plan_form(steps, reason=f"Edit {n}", version=version_of(app, plan_id)),
        )
        assert response.status_code == 302
        saved[n] = [*saved[1][:5], Decimal(last)]
    with app.app_context():
        revisions = db.session.scalars(
            select(PlanRevision).where(PlanRevision.plan_id == plan_id)
        ).all()
        assert {r.number: [s.total for s in r.steps] for r in revisions} == saved
        assert {r.number: r.reason for r in revisions if r.number > 1} == {
            n: f"Edit {n}" for n in range(2, 22)
        }


def test_revisions_page_compares_two_side_by_side(client, app, clinician, patient, write_plan):
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(START))
    steps = six_steps(START)
    steps[5] = (steps[5][0], "8", {}, "")
    client.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(steps, reason="Gentler last step", version=version_of(app, plan_id)),
    )
    page = client.get(f"/clinician/plans/{plan_id}/revisions?a=1&b=2").get_data(as_text=True)
    assert "Steps of revision 1" in page
    assert "Steps of revision 2" in page
    assert "Gentler last step" in page
    assert ">7.5<" in page
    assert ">8<" in page
    bad = client.get(f"/clinician/plans/{plan_id}/revisions?a=abc&b=' OR 1=1--")
    assert bad.status_code == 200


def test_schedule_change_asks_for_password_after_the_window(
    client, app, clinician, patient, write_plan
):
    """A9: an old session types the password inline; nothing typed is lost."""
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(START))
    with client.session_transaction() as session:
        session["auth_at"] = time.time() - 3600
    steps = six_steps(START)
    steps[0] = (steps[0][0], "20", {}, "Typed while stale")
    data = plan_form(steps, reason="Needs fresh login", version=version_of(app, plan_id))
    response = client.post(f"/clinician/plans/{plan_id}/edit", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Type your password to confirm this change." in page
    assert "Typed while stale" in page
    assert len(db_revisions(app, plan_id)) == 1

    response = client.post(
        f"/clinician/plans/{plan_id}/edit", data={**data, "password": "wrong password here"}
    )
    assert "That is not your password." in response.get_data(as_text=True)
    assert len(db_revisions(app, plan_id)) == 1

    response = client.post(f"/clinician/plans/{plan_id}/edit", data={**data, "password": PASSWORD})
    assert response.status_code == 302
    assert len(db_revisions(app, plan_id)) == 2


@pytest.mark.parametrize(
    "change",
    [
        lambda plan_id, version, patient: (
            f"/clinician/patients/{patient.id}/plans/new",
            plan_form(six_steps(START), medication="clonazepam"),
        ),
        lambda plan_id, version, patient: (
            f"/clinician/plans/{plan_id}/edit",
            plan_form(six_steps(START), reason="Stale session", version=version),
        ),
        lambda plan_id, version, patient: (
            f"/clinician/plans/{plan_id}/hold",
            {"reason": "Stale session", "version": version, "until": _in_days(patient, 9)},
        ),
        lambda plan_id, version, patient: (
            f"/clinician/plans/{plan_id}/release-hold",
            {"reason": "Stale session", "version": version},
        ),
        lambda plan_id, version, patient: (
            f"/clinician/plans/{plan_id}/status",
            {"status": "completed", "version": version},
        ),
    ],
    ids=["new", "edit", "hold", "release-hold", "status"],
)
def test_every_schedule_change_needs_a_recent_password(
    client, app, clinician, patient, write_plan, change
):
    """A9 on every route that changes a schedule: after the window, nothing changes
    without the password."""
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(patient_today(patient)))
    confirmed(  # a hold in place, so that releasing it is a real change
        client,
        f"/clinician/plans/{plan_id}/hold",
        patient,
        reason="Hold",
        version=version_of(app, plan_id),
    )
    with client.session_transaction() as session:
        session["auth_at"] = time.time() - 3600

    def schedule():
        with app.app_context():
            plans = db.session.scalars(select(TaperPlan).order_by(TaperPlan.id)).all()
            return [(p.id, p.version, p.status, len(p.revisions)) for p in plans]

    before = schedule()
    url, data = change(plan_id, version_of(app, plan_id), patient)
    data = {**data, "confirm": "1", "day": patient_today(patient).isoformat()}
    client.post(url, data=data)
    assert schedule() == before
    client.post(url, data={**data, "password": "not my password"})
    assert schedule() == before
    client.post(url, data={**data, "password": PASSWORD})
    assert schedule() != before


def _in_days(patient, days: int) -> str:
    return (patient_today(patient) + timedelta(days=days)).isoformat()


def test_status_changes_follow_the_allowed_path(client, app, clinician, patient, write_plan):
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(START))  # draft -> active
    for status, expected in [
        ("paused", "paused"),
        ("active", "active"),
        ("completed", "completed"),
        ("active", "completed"),
    ]:
        confirmed(
            client,
            f"/clinician/plans/{plan_id}/status",
            patient,
            status=status,
            reason="Review",
            version=version_of(app, plan_id),
        )
        with app.app_context():
            assert db.session.get(TaperPlan, plan_id).status.value == expected
    assert client.get(f"/clinician/plans/{plan_id}/edit").status_code == 302


def test_every_change_and_view_is_audited(client, app, clinician, patient, write_plan):
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(patient_today(patient)))
    for url, reason in (("hold", "Hold"), ("release-hold", "Better")):
        confirmed(
            client,
            f"/clinician/plans/{plan_id}/{url}",
            patient,
            reason=reason,
            version=version_of(app, plan_id),
        )
    client.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(
            six_steps(patient_today(patient)), reason="Same", version=version_of(app, plan_id)
        ),
    )
    client.get(f"/clinician/plans/{plan_id}")
    login_as(client, patient)
    client.get("/today")
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "taper_plan").order_by(AuditEvent.id)
        ).all()
        actions = [(e.action, e.actor_id) for e in events]
    assert ("plan.create", clinician.id) in actions
    assert ("plan.status", clinician.id) in actions
    assert ("plan.hold", clinician.id) in actions
    assert ("plan.release", clinician.id) in actions
    assert ("plan.revise", clinician.id) in actions
    assert ("plan.view", clinician.id) in actions
    assert ("plan.view", patient.id) in actions
    assert all(e.patient_id == patient.id for e in events)


def test_hold_until_a_past_date_is_refused(client, app, clinician, patient, write_plan):
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(patient_today(patient)))
    yesterday = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    response = client.post(
        f"/clinician/plans/{plan_id}/hold",
        data={"reason": "x", "until": yesterday, "version": version_of(app, plan_id)},
        follow_redirects=True,
    )
    assert "Choose today or a later date." in response.get_data(as_text=True)
    assert len(db_revisions(app, plan_id)) == 1


def db_revisions(app, plan_id):
    with app.app_context():
        return db.session.scalars(
            select(PlanRevision.id).where(PlanRevision.plan_id == plan_id)
        ).all()


@pytest.mark.parametrize(
    "change",
    [
        lambda revision: setattr(revision.steps[0], "total", Decimal("25")),
        lambda revision: setattr(revision.steps[0], "note", "Rewritten"),
        lambda revision: setattr(revision, "reason", "Rewritten"),
        lambda revision: setattr(revision, "hold_until", date(2030, 1, 1)),
        lambda revision: db.session.delete(revision.steps[0]),
        lambda revision: db.session.delete(revision),
    ],
    ids=["step-dose", "step-note", "reason", "hold", "delete-step", "delete-revision"],
)
def test_a_saved_revision_cannot_be_changed_or_deleted(
    client, app, clinician, patient, write_plan, change
):
    """F4: what a clinician saved stays as saved; a change is a new revision."""
    from taper.models.plan import RevisionIsImmutable

    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(START))
    with app.app_context():
        revision = db.session.get(TaperPlan, plan_id).current_revision
        change(revision)
        with pytest.raises(RevisionIsImmutable):
            db.session.commit()
        db.session.rollback()
    with app.app_context():
        steps = db.session.get(TaperPlan, plan_id).current_revision.steps
        assert [s.total for s in steps] == [Decimal(d) for _, d, _, _ in six_steps(START)]


def test_plan_page_shows_the_moved_next_step_after_a_dated_hold(
    client, app, clinician, patient, write_plan
):
    """A hold moves the later steps: the page names the next typed step at its new date, and
    no step is passed over."""
    login_as(client, clinician)
    today = patient_today(patient)
    plan_id = write_plan(patient, six_steps(today))  # 20, 17.5, 15 ... two weeks apart
    until = today + timedelta(days=30)  # past the 17.5 and 15 mg steps' typed dates
    response = confirmed(
        client,
        f"/clinician/plans/{plan_id}/hold",
        patient,
        reason="Rough patch",
        until=until.isoformat(),
        version=version_of(app, plan_id),
    )
    assert response.status_code == 302
    page = client.get(f"/clinician/plans/{plan_id}").text
    nxt = page[page.index('id="next-change"') :]
    nxt = re.sub(r"\s+", " ", nxt[: nxt.index("</dd>")])
    day_after = until + timedelta(days=1)
    assert f"17.5 mg from {day_after.day} {day_after:%b %Y}" in nxt
    assert "skips" not in page
    with app.app_context():
        revision = db.session.get(TaperPlan, plan_id).current_revision
        assert (revision.hold_start, revision.hold_until, revision.hold_shift) == (
            today,
            until,
            17,
        )
        starts = [s.start_date for s in revision.steps]
    assert [(b - a).days for a, b in zip(starts[1:], starts[2:], strict=False)] == [14] * 4
