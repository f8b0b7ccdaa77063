"""Alerts follow the real timeline: plan-end review alerts, missed logs counted from the day the
dose really changed, and acknowledged alerts that no longer hide new ones (issue 11, points 3
and 5). Scans are run with an explicit "now" (the cron command passes the clock)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from taper.domain.alert_rules import DoseFacts, LogFacts, dose_deviation_rule, high_score_rule
from taper.domain.alert_rules import Thresholds as Th
from taper.extensions import db
from taper.models import Alert, AlertStatus, DailyLog, PlanStatus, Role, TaperPlan, User
from taper.services import alerts, plans
from tests.conftest import login_as

D = date(2026, 6, 1)


def at(day: date) -> datetime:
    """Midday in New York (the test patients' time zone) on ``day``."""
    return datetime(day.year, day.month, day.day, 16, tzinfo=UTC)


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def make_plan(app, clinician, patient, steps, *, medication="diazepam") -> int:
    """An active plan typed by the clinician: ``steps`` = [(start, "dose"), ...]."""
    with app.app_context():
        rows = [{"start": start.isoformat(), "total": total} for start, total in steps]
        plan = plans.create_plan(_user(clinician.id), _user(patient.id), medication, rows)
        plans.change_status(_user(clinician.id), plan, plan.version, PlanStatus.ACTIVE)
        db.session.commit()
        return plan.id


def weekly(first: date, *doses: str) -> list[tuple[date, str]]:
    return [(first + timedelta(days=7 * i), dose) for i, dose in enumerate(doses)]


def revise(app, clinician, plan_id: int, steps) -> None:
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        rows = [{"start": start.isoformat(), "total": total} for start, total in steps]
        plans.revise_plan(_user(clinician.id), plan, plan.version, rows, "Reviewed the end")
        db.session.commit()


def timeline_change(app, clinician, plan_id: int, action: str, today: date, until=None):
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        change = plans.apply_timeline_change(
            _user(clinician.id), plan, plan.version, action, today, "Symptoms", until
        )
        db.session.commit()
        return change


def add_log(app, patient, day: date) -> None:
    """A day's log (only the day matters to the scan)."""
    with app.app_context():
        db.session.add(
            DailyLog(
                patient_id=patient.id,
                day=day,
                submission_id=uuid.uuid4().hex,
                answers={},
                patient_total=0,
            )
        )
        db.session.commit()


def scan(app, day: date) -> alerts.ScanResult:
    with app.app_context():
        result = alerts.scan(at(day))
        db.session.commit()
        return result


def rows(app, kind: str | None = None) -> list[Alert]:
    with app.app_context():
        query = select(Alert).order_by(Alert.id)
        if kind is not None:
            query = query.where(Alert.kind == kind)
        return list(db.session.scalars(query))


def triage(app, clinician, alert_id: int, how: str) -> None:
    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        action = alerts.acknowledge if how == "acknowledge" else alerts.resolve
        action(_user(clinician.id), alert, "Seen, will call")
        db.session.commit()


# --- plan-end review alerts ------------------------------------------------------------


def test_plan_end_alert_once_however_often_the_scan_runs(app, clinician, patient):
    plan_id = make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "4", "3", "2"))
    add_log(app, patient, D - timedelta(days=1))
    assert scan(app, D) == alerts.ScanResult(missed_logs=0, plan_end=1)
    assert scan(app, D) == alerts.ScanResult()
    assert scan(app, D + timedelta(days=3)) == alerts.ScanResult(missed_logs=1, plan_end=0)
    (alert,) = rows(app, "plan_end")
    assert (alert.tier, alert.plan_id, alert.status) == ("review", plan_id, AlertStatus.OPEN)
    last = D + timedelta(days=5)
    assert alert.cause == f"last:{last.isoformat()}:2"
    assert f"Diazepam: the last step written (2 mg) starts on {last.isoformat()}" in alert.reason


def test_plan_end_alert_comes_plan_end_days_before_the_last_step(app, clinician, patient):
    make_plan(app, clinician, patient, weekly(D - timedelta(days=6), "4", "3", "2"))
    add_log(app, patient, D)
    assert scan(app, D).plan_end == 0  # the last step starts in 8 days
    assert scan(app, D + timedelta(days=1)).plan_end == 1  # in 7 days


@pytest.mark.parametrize("how", ["acknowledge", "resolve"])
def test_a_triaged_plan_end_alert_is_not_raised_again_for_the_same_last_step(
    app, clinician, patient, how
):
    make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "4", "3", "2"))
    scan(app, D)
    (alert,) = rows(app, "plan_end")
    triage(app, clinician, alert.id, how)
    for later in (D, D + timedelta(days=1), D + timedelta(days=5), D + timedelta(days=40)):
        assert scan(app, later).plan_end == 0
    assert len(rows(app, "plan_end")) == 1


def test_a_revised_last_step_raises_a_new_plan_end_alert(app, clinician, patient):
    plan_id = make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "4", "3", "2"))
    scan(app, D)
    (first,) = rows(app, "plan_end")
    triage(app, clinician, first.id, "resolve")
    assert scan(app, D).plan_end == 0
    # The clinician moves the last step (still inside the window): a new situation.
    moved = [*weekly(D - timedelta(days=9), "4", "3"), (D + timedelta(days=6), "2")]
    revise(app, clinician, plan_id, moved)
    assert scan(app, D).plan_end == 1
    assert scan(app, D).plan_end == 0
    new = rows(app, "plan_end")[-1]
    assert new.cause == f"last:{(D + timedelta(days=6)).isoformat()}:2"
    assert new.status is AlertStatus.OPEN
    # Revised again while that alert is open: the open alert stands for the plan's end ...
    revise(app, clinician, plan_id, [*moved[:-1], (D + timedelta(days=6), "2.5")])
    assert scan(app, D).plan_end == 0
    # ... and once it is acknowledged, the revised last step (another dose) is raised.
    triage(app, clinician, new.id, "acknowledge")
    assert scan(app, D).plan_end == 1
    assert rows(app, "plan_end")[-1].cause == f"last:{(D + timedelta(days=6)).isoformat()}:2.5"


def test_a_plan_revised_to_end_further_ahead_waits_for_its_new_window(app, clinician, patient):
    plan_id = make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "4", "3", "2"))
    scan(app, D)
    triage(app, clinician, rows(app, "plan_end")[0].id, "resolve")
    revise(app, clinician, plan_id, weekly(D - timedelta(days=9), "4", "3", "2", "1"))
    assert scan(app, D).plan_end == 0  # the 1 mg step starts in 12 days
    assert scan(app, D + timedelta(days=5)).plan_end == 1


def test_no_plan_end_alert_when_the_last_step_is_zero(app, clinician, patient):
    make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "4", "2", "0"))
    for day in (D, D + timedelta(days=5), D + timedelta(days=30)):
        assert scan(app, day).plan_end == 0
    assert rows(app, "plan_end") == []


def test_no_plan_end_alert_for_drafts_or_completed_plans(app, clinician, patient):
    with app.app_context():
        rows_ = [{"start": s.isoformat(), "total": t} for s, t in weekly(D, "4", "2")]
        plans.create_plan(_user(clinician.id), _user(patient.id), "diazepam", rows_)
        db.session.commit()
    plan_id = make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "4", "3", "2"))
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        plans.change_status(_user(clinician.id), plan, plan.version, PlanStatus.COMPLETED)
        db.session.commit()
    assert scan(app, D) == alerts.ScanResult()


def test_plan_end_days_is_tuned_per_patient(app, clinician, patient, make_user):
    tuned = make_user(Role.PATIENT, clinicians=(clinician,))
    for who in (patient, tuned):
        make_plan(app, clinician, who, weekly(D - timedelta(days=4), "4", "3", "2"))
        add_log(app, who, D)
    with app.app_context():
        values = {"high_score": 41, "rising_points": 10, "missed_days": 2, "plan_end_days": 14}
        alerts.set_thresholds(_user(clinician.id), _user(tuned.id), values)
        db.session.commit()
    assert scan(app, D).plan_end == 1  # the last step starts in 10 days
    (alert,) = rows(app, "plan_end")
    assert alert.patient_id == tuned.id


def test_plan_end_days_zero_alerts_on_the_day_the_last_step_starts(app, clinician, patient):
    make_plan(app, clinician, patient, weekly(D - timedelta(days=13), "4", "3", "2"))
    with app.app_context():
        values = {"high_score": 41, "rising_points": 10, "missed_days": 2, "plan_end_days": 0}
        alerts.set_thresholds(_user(clinician.id), _user(patient.id), values)
        db.session.commit()
    assert scan(app, D).plan_end == 0  # tomorrow
    assert scan(app, D + timedelta(days=1)).plan_end == 1


def test_crossover_plans_each_get_their_plan_end_alert(app, clinician, patient):
    first = make_plan(
        app, clinician, patient, weekly(D - timedelta(days=9), "1", "0.5"), medication="alprazolam"
    )
    second = make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "5", "10", "10"))
    assert scan(app, D).plan_end == 2
    assert sorted(a.plan_id for a in rows(app, "plan_end")) == [first, second]
    assert scan(app, D).plan_end == 0


def test_an_open_hold_means_no_plan_end_alert_until_it_ends(app, clinician, patient):
    """While an open-ended hold lasts the last step has no date; once the clinician ends it,
    the moved date counts."""
    plan_id = make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "4", "3", "2"))
    timeline_change(app, clinician, plan_id, "hold", D - timedelta(days=1))  # holds 3 mg
    assert scan(app, D + timedelta(days=5)).plan_end == 0
    assert scan(app, D + timedelta(days=30)).plan_end == 0
    change = timeline_change(app, clinician, plan_id, "release", D + timedelta(days=30))
    last = change.after[-1].start
    assert last == D + timedelta(days=31)  # the 2 mg step starts the day after the release
    assert scan(app, D + timedelta(days=30)).plan_end == 1
    assert rows(app, "plan_end")[0].cause == f"last:{last.isoformat()}:2"


def test_a_dated_hold_moves_the_plan_end_alert_with_the_last_step(app, clinician, patient):
    plan_id = make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "4", "3", "2"))
    change = timeline_change(
        app, clinician, plan_id, "hold", D - timedelta(days=1), D + timedelta(days=13)
    )
    last = change.after[-1].start
    assert last == D + timedelta(days=14)
    assert scan(app, D).plan_end == 0  # typed for D + 5: the hold moved it
    assert scan(app, last - timedelta(days=7)).plan_end == 1
    assert rows(app, "plan_end")[0].cause == f"last:{last.isoformat()}:2"


def test_a_paused_plan_gets_no_plan_end_alert_until_resumed(app, clinician, patient):
    plan_id = make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "4", "3", "2"))
    timeline_change(app, clinician, plan_id, "pause", D - timedelta(days=3))
    assert scan(app, D + timedelta(days=10)).plan_end == 0
    change = timeline_change(app, clinician, plan_id, "resume", D + timedelta(days=10))
    assert change.after[-1].start == D + timedelta(days=5 + 13)  # moved by 13 days paused
    assert scan(app, D + timedelta(days=10)).plan_end == 0
    assert scan(app, D + timedelta(days=11)).plan_end == 1


# --- missed logs on the real timeline --------------------------------------------------


def test_missed_log_tightening_counts_the_day_the_dose_really_went_down(
    app, clinician, patient, make_user
):
    """Typed: 4 mg, then 3 mg from D - 4. A hold from D - 6 to D - 2 moved the 3 mg step to
    D - 1: one day without a log is enough just after that real reduction. The patient
    without the hold reduced four days ago, so one day missed is not yet an alert."""
    plain = make_user(Role.PATIENT, clinicians=(clinician,))
    typed = [(D - timedelta(days=20), "4"), *weekly(D - timedelta(days=4), "3", "2", "0")]
    make_plan(app, clinician, plain, typed)
    held = make_plan(app, clinician, patient, typed)
    change = timeline_change(app, clinician, held, "hold", D - timedelta(days=6), D - timedelta(2))
    assert change.after[1].start == D - timedelta(days=1)
    for who in (plain, patient):
        add_log(app, who, D - timedelta(days=2))  # D - 1 missed
    assert scan(app, D).missed_logs == 1
    (alert,) = rows(app, "missed_logs")
    assert alert.patient_id == patient.id
    assert alert.cause == f"since:{(D - timedelta(days=2)).isoformat()}"


def test_a_patient_still_silent_after_the_alert_was_resolved_is_alerted_again_each_week(
    app, clinician, patient
):
    """The clinician resolved the first missed-log alert (called, no answer); the gap goes
    on: a new alert when it reaches a week, none more in between, one each week after."""
    make_plan(app, clinician, patient, weekly(D - timedelta(days=30), "4", "3", *["2"] * 6))
    add_log(app, patient, D - timedelta(days=3))
    assert scan(app, D).missed_logs == 1
    (first,) = rows(app, "missed_logs")
    triage(app, clinician, first.id, "resolve")
    assert [scan(app, D + timedelta(days=n)).missed_logs for n in range(1, 5)] == [0, 0, 0, 0]
    assert scan(app, D + timedelta(days=5)).missed_logs == 1  # 7 days with no log
    assert scan(app, D + timedelta(days=6)).missed_logs == 0  # the new one is still open
    second = rows(app, "missed_logs")[-1]
    assert second.reason == "No log for 7 day(s)"
    triage(app, clinician, second.id, "acknowledge")
    assert scan(app, D + timedelta(days=11)).missed_logs == 0
    assert scan(app, D + timedelta(days=12)).missed_logs == 1  # two weeks
    add_log(app, patient, D + timedelta(days=12))
    assert scan(app, D + timedelta(days=13)).missed_logs == 0


def test_a_deactivated_patient_is_not_scanned(app, clinician, patient, make_user):
    """Switched off, the patient can no longer log in: no missed-log alert for them."""
    other = make_user(Role.PATIENT, clinicians=(clinician,))
    for who in (patient, other):
        make_plan(app, clinician, who, weekly(D - timedelta(days=30), "4", "3", *["2"] * 6))
        add_log(app, who, D - timedelta(days=3))
    with app.app_context():
        db.session.get(User, other.id).active = False
        db.session.commit()
    assert scan(app, D).missed_logs == 1
    assert [alert.patient_id for alert in rows(app, "missed_logs")] == [patient.id]


def test_no_missed_log_tightening_for_a_typed_step_an_open_hold_kept_back(app, clinician, patient):
    """Held at 4 mg since D - 5 until reviewed: the 3 mg step typed for D - 2 never started,
    so there was no reduction and two whole days without a log are needed as usual."""
    plan_id = make_plan(
        app, clinician, patient, [(D - timedelta(days=20), "4"), *weekly(D - timedelta(2), "3")]
    )
    timeline_change(app, clinician, plan_id, "hold", D - timedelta(days=5))
    add_log(app, patient, D - timedelta(days=2))  # D - 1 missed
    assert scan(app, D).missed_logs == 0
    assert scan(app, D + timedelta(days=1)).missed_logs == 1


def test_missed_log_tightening_counts_the_day_a_paused_plan_resumed(app, clinician, patient):
    """Paused on the 4 mg step; on resume the 3 mg step moves by the days paused."""
    plan_id = make_plan(
        app, clinician, patient, [(D - timedelta(days=30), "4"), (D - timedelta(days=20), "3")]
    )
    timeline_change(app, clinician, plan_id, "pause", D - timedelta(days=25))
    # Paused 23 days: the 3 mg step (typed D - 20) starts on D - 20 + 23 = D + 3.
    change = timeline_change(app, clinician, plan_id, "resume", D - timedelta(days=2))
    assert change.after[1].start == D + timedelta(days=3)
    add_log(app, patient, D + timedelta(days=3))
    assert scan(app, D + timedelta(days=5)).missed_logs == 1  # one day after the reduction


def test_missed_logs_wait_for_a_running_plan_to_start(app, clinician, patient):
    make_plan(app, clinician, patient, weekly(D + timedelta(days=1), "4", "3", "0"))
    assert scan(app, D) == alerts.ScanResult()
    assert scan(app, D + timedelta(days=3)).missed_logs == 1


@pytest.mark.parametrize("how", ["acknowledge", "resolve"])
def test_a_triaged_missed_log_alert_is_not_raised_again_for_the_same_gap(
    app, clinician, patient, how
):
    make_plan(app, clinician, patient, weekly(D - timedelta(days=20), "4", "3", "2", "0"))
    add_log(app, patient, D - timedelta(days=4))
    assert scan(app, D).missed_logs == 1
    triage(app, clinician, rows(app, "missed_logs")[0].id, how)
    assert scan(app, D).missed_logs == 0
    assert scan(app, D + timedelta(days=2)).missed_logs == 0
    # A log, then a new gap: a new alert.
    add_log(app, patient, D + timedelta(days=3))
    assert scan(app, D + timedelta(days=4)).missed_logs == 0
    assert scan(app, D + timedelta(days=6)).missed_logs == 1
    assert scan(app, D + timedelta(days=6)).missed_logs == 0
    first, second = rows(app, "missed_logs")
    assert second.cause == f"since:{(D + timedelta(days=3)).isoformat()}"
    assert second.status is AlertStatus.OPEN


def test_a_new_plan_after_a_completed_one_gets_its_own_missed_log_alert(app, clinician, patient):
    """An old gap's alert (resolved) counted from the last log of a completed plan; months
    later a new plan starts and the patient never logs: after its second day with no log, a
    new alert, however the old one was triaged."""
    first_plan = make_plan(app, clinician, patient, weekly(D, "4", "2", "0"))
    add_log(app, patient, D + timedelta(days=3))
    assert scan(app, D + timedelta(days=10)).missed_logs == 1
    triage(app, clinician, rows(app, "missed_logs")[0].id, "resolve")
    with app.app_context():
        plan = db.session.get(TaperPlan, first_plan)
        plans.change_status(_user(clinician.id), plan, plan.version, PlanStatus.COMPLETED)
        db.session.commit()
    start = D + timedelta(days=90)
    make_plan(app, clinician, patient, weekly(start, "5", "4", "3", "0"))
    found = [scan(app, start + timedelta(days=n)).missed_logs for n in range(5)]
    assert found == [0, 0, 1, 0, 0]  # its first two days not logged: alerted on the third
    assert rows(app, "missed_logs")[-1].reason == "No log for 2 day(s)"


def test_scan_queries_do_not_grow_with_the_number_of_patients(
    app, clinician, make_user, count_queries
):
    """Cron runs the scan every 5 minutes: once every patient's situation has its alert, a
    scan reads a fixed number of queries however many patients there are."""

    def patients_with_alerts(n: int) -> int:
        for _ in range(n):
            who = make_user(Role.PATIENT, clinicians=(clinician,))
            make_plan(app, clinician, who, weekly(D - timedelta(days=9), "4", "3", "2"))
        scan(app, D)
        with count_queries() as statements:
            assert scan(app, D) == alerts.ScanResult()
        return len(statements)

    few = patients_with_alerts(2)
    assert patients_with_alerts(6) == few
    assert few <= 7  # plans (4 with eager loads), last log days, thresholds, alerts


def test_scan_reads_patients_in_chunks(app, clinician, make_user, monkeypatch):
    """Many patients are read a chunk at a time (IN lists stay short); nothing is missed or
    raised twice across chunks."""
    monkeypatch.setattr(alerts, "SCAN_CHUNK", 2)
    for n in range(5):
        who = make_user(Role.PATIENT, clinicians=(clinician,))
        make_plan(app, clinician, who, weekly(D - timedelta(days=9), "4", "3", "2"))
        if n % 2:
            add_log(app, who, D - timedelta(days=1))
        if n == 4:
            with app.app_context():
                values = {"high_score": 41, "rising_points": 10, "missed_days": 2}
                alerts.set_thresholds(
                    _user(clinician.id), _user(who.id), {**values, "plan_end_days": 3}
                )
                db.session.commit()
    assert scan(app, D) == alerts.ScanResult(missed_logs=3, plan_end=4)
    assert scan(app, D) == alerts.ScanResult()


# --- acknowledged alerts no longer hide new ones ---------------------------------------


def deviation(day: date, taken: str, plan_id: int, scheduled: str = "7.5"):
    dose = DoseFacts(plan_id, "diazepam", "mg", Decimal(taken), Decimal(scheduled))
    return dose_deviation_rule(LogFacts(day, 0, (), (dose,)))


def raise_all(app, patient, findings) -> int:
    with app.app_context():
        raised = [alerts.raise_alert(_user(patient.id), finding) for finding in findings]
        db.session.commit()
        return sum(alert is not None for alert in raised)


def test_a_new_deviation_after_an_acknowledgement_is_a_new_alert(app, clinician, patient):
    plan_id = make_plan(app, clinician, patient, weekly(D, "7.5", "5"))
    assert raise_all(app, patient, deviation(D, "5", plan_id)) == 1
    triage(app, clinician, rows(app)[0].id, "acknowledge")
    assert raise_all(app, patient, deviation(D + timedelta(days=1), "5", plan_id)) == 1
    first, second = rows(app, "dose_deviation")
    assert (first.status, second.status) == (AlertStatus.ACKNOWLEDGED, AlertStatus.OPEN)


def test_a_new_deviation_while_one_is_open_is_merged(app, clinician, patient):
    plan_id = make_plan(app, clinician, patient, weekly(D, "7.5", "5"))
    assert raise_all(app, patient, deviation(D, "5", plan_id)) == 1
    assert raise_all(app, patient, deviation(D + timedelta(days=1), "10", plan_id)) == 0
    assert len(rows(app)) == 1


def test_a_corrected_log_with_the_same_deviation_raises_nothing_new(app, clinician, patient):
    plan_id = make_plan(app, clinician, patient, weekly(D, "7.5", "5"))
    raise_all(app, patient, deviation(D, "5", plan_id))
    triage(app, clinician, rows(app)[0].id, "acknowledge")
    assert raise_all(app, patient, deviation(D, "5.0", plan_id)) == 0  # same day, same dose
    assert raise_all(app, patient, deviation(D, "2.5", plan_id)) == 1  # corrected dose


def test_two_plans_deviating_raise_two_alerts(app, clinician, patient):
    alprazolam = make_plan(app, clinician, patient, weekly(D, "1", "0.5"), medication="alprazolam")
    diazepam = make_plan(app, clinician, patient, weekly(D, "5", "10"))
    findings = [*deviation(D, "2", alprazolam, "1"), *deviation(D, "2.5", diazepam, "5")]
    assert raise_all(app, patient, findings) == 2
    assert sorted(a.plan_id for a in rows(app)) == sorted([alprazolam, diazepam])
    # A second deviation on one drug merges into that drug's open alert only.
    triage(app, clinician, rows(app)[0].id, "acknowledge")
    again = [*deviation(D + timedelta(1), "2", alprazolam, "1")]
    again += deviation(D + timedelta(1), "2.5", diazepam, "5")
    assert raise_all(app, patient, again) == 1


def test_a_high_score_on_another_day_after_an_acknowledgement_is_a_new_alert(
    app, clinician, patient
):
    def high(day: date):
        return [high_score_rule(LogFacts(day, 45, ()), Th())]

    assert raise_all(app, patient, high(D)) == 1
    assert raise_all(app, patient, high(D + timedelta(days=1))) == 0  # merged while open
    triage(app, clinician, rows(app)[0].id, "acknowledge")
    assert raise_all(app, patient, high(D)) == 0  # the day the clinician has seen
    assert raise_all(app, patient, high(D + timedelta(days=2))) == 1


# --- the inbox and the thresholds form -------------------------------------------------


def test_inbox_names_the_drug_and_links_a_plan_end_alert_to_its_plan(
    client, app, clinician, patient
):
    alprazolam = make_plan(
        app, clinician, patient, weekly(D - timedelta(days=9), "1", "0.5"), medication="alprazolam"
    )
    diazepam = make_plan(app, clinician, patient, weekly(D - timedelta(days=9), "5", "10", "10"))
    add_log(app, patient, D)
    scan(app, D)
    raise_all(app, patient, deviation(D, "12.5", diazepam, "10"))
    login_as(client, clinician)
    page = client.get("/clinician/alerts").text
    assert page.count('<span class="medication">(alprazolam)</span>') == 1
    assert page.count('<span class="medication">(diazepam)</span>') == 2
    for plan_id, name in ((alprazolam, "alprazolam"), (diazepam, "diazepam")):
        assert f'href="/clinician/plans/{plan_id}">Review the {name} plan' in page
    assert "Diazepam: took 12.5 mg; scheduled 10 mg" in page
    assert page.count(">Review the ") == 2  # the deviation links to the logs instead


def test_inbox_loads_plans_without_a_query_per_alert(
    client, app, clinician, make_user, count_queries
):
    login_as(client, clinician)

    def inbox_queries() -> int:
        with count_queries() as statements:
            assert client.get("/clinician/alerts").status_code == 200
        return len(statements)

    def add_patient_with_alerts() -> None:
        who = make_user(Role.PATIENT, clinicians=(clinician,))
        make_plan(app, clinician, who, weekly(D - timedelta(days=9), "4", "3", "2"))
        scan(app, D)  # a missed-log and a plan-end alert

    add_patient_with_alerts()
    few = inbox_queries()
    for _ in range(3):
        add_patient_with_alerts()
    assert len(rows(app)) == 8
    assert inbox_queries() == few


def test_plan_end_days_in_the_thresholds_form(client, app, clinician, patient):
    url = f"/clinician/patients/{patient.id}/alert-settings"
    login_as(client, clinician)
    page = client.get(url).text
    assert re.search(r'id="plan_end_days"[^>]*value="7"', page)
    good = {"high_score": "41", "rising_points": "10", "missed_days": "2"}
    for bad in ("61", "-1", "", "seven"):
        response = client.post(url, data={**good, "plan_end_days": bad})
        assert response.status_code == 400, bad
    assert client.post(url, data={**good, "plan_end_days": "0"}).status_code == 302
    with app.app_context():
        assert alerts.thresholds_for(patient.id).plan_end_days == 0
    assert re.search(r'id="plan_end_days"[^>]*value="0"', client.get(url).text)


def test_set_thresholds_refuses_values_out_of_range(app, clinician, patient):
    with app.app_context():
        with pytest.raises(alerts.ServiceError) as refused:
            alerts.set_thresholds(
                _user(clinician.id), _user(patient.id), {"plan_end_days": 61, "high_score": 41}
            )
        assert refused.value.field == "plan_end_days"


def test_bad_stored_thresholds_fall_back_to_the_defaults(app, clinician, patient):
    """A value stored by hand (or by an older version) never breaks the scan."""
    from taper.models import AlertSettings

    with app.app_context():
        db.session.add(
            AlertSettings(
                patient_id=patient.id,
                thresholds={"plan_end_days": "many", "missed_days": 5, "gone": 3},
            )
        )
        db.session.commit()
        found = alerts.thresholds_by_patient([patient.id])[patient.id]
        assert found == Th(missed_days=5)
        assert alerts.thresholds_for(patient.id) == found


def test_one_patients_odd_dates_never_stop_the_scan_for_the_others(
    app, clinician, patient, make_user
):
    """A plan stored with dates at the ends of the calendar (bypassing the editor's checks)
    must not cost every other patient their alerts."""
    from tests.charts.stored import store_plan

    odd = make_user(Role.PATIENT, clinicians=(clinician,))
    store_plan(app, odd, clinician, [(date.min, "4"), (date.max, "2")])
    today = date(2027, 3, 10)
    make_plan(app, clinician, patient, weekly(today - timedelta(days=10), "4", "3"))
    result = scan(app, today)
    assert result.missed_logs >= 1
    assert any(a.patient_id == patient.id for a in rows(app, "missed_logs"))
