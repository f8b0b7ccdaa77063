"""Alert rules at, below and above their thresholds."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from taper.domain.alert_rules import (
    DoseFacts,
    LogFacts,
    Thresholds,
    dose_deviation_rule,
    evaluate_log,
    high_score_rule,
    missed_logs_rule,
    plan_end_rule,
    red_flag_rule,
    rising_rule,
    scheduled_findings,
)
from taper.domain.schedule import StepInput
from taper.domain.timeline import HOLD, PAUSE, Hold, PlanSchedule, place_hold

TH = Thresholds()
DAY = date(2026, 5, 20)


def dose(taken, scheduled, plan_id: int = 1, medication: str = "diazepam") -> DoseFacts:
    return DoseFacts(plan_id, medication, "mg", Decimal(taken), Decimal(scheduled))


def fact(day: date, total: int = 0, flags=(), doses=()) -> LogFacts:
    return LogFacts(day, total, tuple(flags), tuple(doses))


def test_red_flag_is_urgent_and_named_in_words():
    finding = red_flag_rule(fact(DAY, flags=["seizure", "drowsy"]))
    assert (finding.kind, finding.tier) == ("red_flag", "urgent")
    assert "A seizure or fit" in finding.reason
    assert red_flag_rule(fact(DAY)) is None


@pytest.mark.parametrize(("score", "fires"), [(40, False), (41, True), (42, True)])
def test_high_score_at_the_severe_band(score, fires):
    assert (high_score_rule(fact(DAY, score), TH) is not None) == fires


def test_high_score_threshold_is_per_patient():
    assert high_score_rule(fact(DAY, 30), Thresholds(high_score=30)).tier == "review"


def history(before: list[int], after: list[int], reduction: date) -> list[LogFacts]:
    logs = [fact(reduction - timedelta(days=len(before) - i), s) for i, s in enumerate(before)]
    logs += [fact(reduction + timedelta(days=i), s) for i, s in enumerate(after)]
    return logs


@pytest.mark.parametrize(
    ("recent", "fires"), [([19, 20, 20], False), ([20, 20, 20], True), ([25, 30, 35], True)]
)
def test_rising_compares_recent_logs_with_the_week_before_the_reduction(recent, fires):
    logs = history([10] * 7, recent, DAY)
    assert (rising_rule(logs, DAY, TH) is not None) == fires


def test_rising_needs_enough_data_and_a_reduction():
    assert rising_rule(history([10] * 6, [30, 30, 30], DAY), DAY, TH) is None
    assert rising_rule(history([10] * 7, [30, 30], DAY), DAY, TH) is None
    assert rising_rule(history([10] * 7, [30, 30, 30], DAY), None, TH) is None


@pytest.mark.parametrize(
    ("taken", "scheduled", "fires"),
    [("7.5", "7.50", False), ("10", "7.5", True), ("0", "7.5", True), ("7.5", "0", True)],
)
def test_dose_deviation_compares_decimals(taken, scheduled, fires):
    assert bool(dose_deviation_rule(fact(DAY, doses=[dose(taken, scheduled)]))) == fires


def test_no_dose_question_no_deviation():
    assert dose_deviation_rule(fact(DAY)) == []


def test_dose_deviation_is_one_finding_per_deviating_plan():
    log = fact(
        DAY,
        doses=[
            dose("1", "0.5", plan_id=4, medication="alprazolam"),
            dose("5", "5", plan_id=7),
            dose("2", "5", plan_id=9, medication="clonazepam"),
        ],
    )
    first, second = dose_deviation_rule(log)
    assert (first.plan_id, second.plan_id) == (4, 9)
    assert first.reason == "Alprazolam: took 1 mg; scheduled 0.5 mg"
    assert second.reason.startswith("Clonazepam: took 2 mg")
    assert {(f.kind, f.tier) for f in (first, second)} == {("dose_deviation", "review")}


def test_dose_deviation_cause_is_the_day_and_the_dose_taken():
    """A correction of the same day with the same dose is the same deviation; another day or
    another dose taken is a new one (so it raises a new alert after an acknowledgement)."""

    def cause(day, taken):
        (finding,) = dose_deviation_rule(fact(day, doses=[dose(taken, "7.5")]))
        return finding.cause

    assert cause(DAY, "10") == cause(DAY, "10.00") == "log:2026-05-20:10"
    assert cause(DAY, "10") != cause(DAY + timedelta(days=1), "10")
    assert cause(DAY, "10") != cause(DAY, "5")


def test_high_score_and_rising_causes():
    assert high_score_rule(fact(DAY, 45), TH).cause == "log:2026-05-20:45"
    logs = history([10] * 7, [30] * 3, DAY)
    assert rising_rule(logs, DAY, TH).cause == f"log:{logs[-1].day.isoformat()}"


@pytest.mark.parametrize(
    ("last_log", "reduction", "fires"),
    [
        (DAY - timedelta(days=1), None, False),  # logged yesterday
        (DAY - timedelta(days=2), None, False),  # one whole day missed
        (DAY - timedelta(days=3), None, True),  # two whole days missed
        (DAY - timedelta(days=2), DAY - timedelta(days=2), True),  # just after a reduction
        (DAY - timedelta(days=2), DAY - timedelta(days=4), False),  # window over
    ],
)
def test_missed_logs(last_log, reduction, fires):
    start = DAY - timedelta(days=30)
    assert (missed_logs_rule(last_log, DAY, start, reduction, TH) is not None) == fires


def test_missed_logs_never_before_the_plan_and_counts_from_its_start():
    assert missed_logs_rule(None, DAY, DAY + timedelta(days=1), None, TH) is None
    assert missed_logs_rule(None, DAY, DAY, None, TH) is None
    assert missed_logs_rule(None, DAY, DAY - timedelta(days=1), None, TH) is None
    assert missed_logs_rule(None, DAY, DAY - timedelta(days=2), None, TH) is not None
    assert missed_logs_rule(None, DAY, None, None, TH) is None


def test_missed_logs_cause_is_the_last_day_logged():
    """The same gap is one situation however often the scan runs; a new log starts a new one."""
    start = DAY - timedelta(days=30)
    last = DAY - timedelta(days=3)
    first = missed_logs_rule(last, DAY, start, None, TH)
    later = missed_logs_rule(last, DAY + timedelta(days=4), start, None, TH)
    assert first.cause == later.cause == f"since:{last.isoformat()}"
    assert later.reason == "No log for 6 day(s)"
    after_new_log = missed_logs_rule(
        DAY + timedelta(days=1), DAY + timedelta(days=4), start, None, TH
    )
    assert after_new_log.cause == f"since:{(DAY + timedelta(days=1)).isoformat()}"
    never_logged = missed_logs_rule(None, DAY, DAY - timedelta(days=2), None, TH)
    assert never_logged.cause == f"since:{(DAY - timedelta(days=3)).isoformat()}"


def test_missed_logs_on_a_new_plan_count_from_its_start_not_from_an_older_plans_logs():
    """The last log was months before this plan began (an earlier plan, completed): the gap
    counts from the day before this plan's first step, and so does its cause, so an old
    alert about the earlier gap never stands in for this one."""
    start = DAY - timedelta(days=2)
    old_log = DAY - timedelta(days=100)
    assert missed_logs_rule(old_log, DAY - timedelta(days=1), start, None, TH) is None
    found = missed_logs_rule(old_log, DAY, start, None, TH)
    assert found.reason == "No log for 2 day(s)"
    assert found.cause == f"since:{(start - timedelta(days=1)).isoformat()}"
    assert missed_logs_rule(old_log, DAY, start, None, TH).cause != f"since:{old_log}"


@pytest.mark.parametrize(
    ("days_ahead", "fires"), [(8, False), (7, True), (1, True), (0, True), (-30, True)]
)
def test_plan_end_alert_from_plan_end_days_before_the_last_step(days_ahead, fires):
    last = (DAY + timedelta(days=days_ahead), Decimal("2.5"))
    finding = plan_end_rule(3, "diazepam", "mg", last, DAY, TH)
    assert (finding is not None) == fires
    if fires:
        assert (finding.kind, finding.tier, finding.plan_id) == ("plan_end", "review", 3)
        assert finding.reason.startswith("Diazepam: the last step written (2.5 mg)")
        assert last[0].isoformat() in finding.reason
        assert finding.cause == f"last:{last[0].isoformat()}:2.5"


def test_plan_end_days_is_per_patient():
    last = (DAY + timedelta(days=14), Decimal("1"))
    assert plan_end_rule(3, "diazepam", "mg", last, DAY, TH) is None
    assert plan_end_rule(3, "diazepam", "mg", last, DAY, Thresholds(plan_end_days=14))
    assert plan_end_rule(3, "diazepam", "mg", (DAY, Decimal("1")), DAY, Thresholds(plan_end_days=0))


def test_plan_end_never_for_a_plan_that_ends_at_zero_or_has_no_steps():
    assert plan_end_rule(3, "diazepam", "mg", (DAY, Decimal("0")), DAY, TH) is None
    assert plan_end_rule(3, "diazepam", "mg", (DAY, Decimal("0.000")), DAY, TH) is None
    assert plan_end_rule(3, "diazepam", "mg", None, DAY, TH) is None


def test_plan_end_cause_changes_with_the_last_steps_date_or_dose():
    def cause(start, total):
        return plan_end_rule(3, "diazepam", "mg", (start, Decimal(total)), DAY, TH).cause

    assert cause(DAY, "2.5") == cause(DAY, "2.50")
    assert cause(DAY, "2.5") != cause(DAY + timedelta(days=3), "2.5")
    assert cause(DAY, "2.5") != cause(DAY, "2")


def schedule(plan_id, doses_from, *, hold=None, running=True, medication="diazepam"):
    """A plan of weekly steps from ``doses_from`` = (first day, [doses])."""
    first, doses = doses_from
    steps = tuple(StepInput(first + timedelta(days=7 * i), Decimal(d)) for i, d in enumerate(doses))
    return PlanSchedule(plan_id, medication, "mg", running, steps, hold)


def test_scheduled_findings_plan_end_per_running_plan():
    ends_soon = schedule(1, (DAY - timedelta(days=14), ["4", "3", "2"]))  # last step DAY
    ends_at_zero = schedule(2, (DAY - timedelta(days=14), ["4", "2", "0"]), medication="x")
    far = schedule(3, (DAY - timedelta(days=7), ["4", "3", "2", "1"]))  # last step DAY + 14
    draft = schedule(4, (DAY - timedelta(days=14), ["4", "3", "2"]), running=False)
    found = scheduled_findings([ends_soon, ends_at_zero, far, draft], DAY, DAY, TH)
    assert [(f.kind, f.plan_id) for f in found] == [("plan_end", 1)]


def test_scheduled_findings_no_plan_end_while_an_open_hold_or_pause_lasts():
    """The last step's date is not known until the clinician ends an open hold."""
    steps = (DAY - timedelta(days=14), ["4", "3", "2"])
    for kind in (HOLD, PAUSE):
        held = schedule(1, steps, hold=Hold(DAY - timedelta(days=10), None, kind))
        assert scheduled_findings([held], DAY, DAY, TH) == []
    # A dated hold has already moved the last step: the moved date counts.
    dated = schedule(1, steps, hold=Hold(DAY - timedelta(days=10), DAY - timedelta(days=1)))
    assert [f.kind for f in scheduled_findings([dated], DAY, DAY, TH)] == ["plan_end"]


def test_scheduled_findings_missed_logs_once_any_running_plan_started():
    later = schedule(1, (DAY + timedelta(days=2), ["4", "3", "0"]))
    started = schedule(2, (DAY - timedelta(days=5), ["4", "3", "2", "0"]))
    not_running = schedule(3, (DAY - timedelta(days=30), ["4", "0"]), running=False)
    assert scheduled_findings([later, not_running], None, DAY, TH) == []
    (missed,) = scheduled_findings([later, started], None, DAY, TH)
    assert missed.kind == "missed_logs"
    assert missed.cause == f"since:{(DAY - timedelta(days=6)).isoformat()}"


def test_scheduled_findings_tightening_follows_the_day_the_dose_really_went_down():
    """Steps 4 → 3 typed for DAY - 4; a hold until DAY - 2 moved the 3 mg step to DAY - 1.
    One whole day without a log is enough just after the real reduction, not four days
    after the typed one."""
    typed = (DAY - timedelta(days=11), ["4", "3", "2", "0"])
    plain = schedule(1, typed)
    last_log = DAY - timedelta(days=2)  # one whole day (DAY - 1) missed
    assert scheduled_findings([plain], last_log, DAY, TH) == []
    steps, hold = place_hold(plain.steps, DAY - timedelta(days=5), DAY - timedelta(days=2))
    held = replace(plain, steps=tuple(steps), hold=hold)
    assert held.steps[1].start == DAY - timedelta(days=1)
    (missed,) = scheduled_findings([held], last_log, DAY, TH)
    assert missed.kind == "missed_logs"


def test_evaluate_log_combines_the_per_log_rules():
    logs = history([10] * 7, [45, 45], DAY)
    latest = fact(DAY + timedelta(days=2), 45, ["confusion"], [dose("5", "7.5")])
    kinds = {f.kind for f in evaluate_log(latest, logs, DAY, TH)}
    assert kinds == {"red_flag", "high_score", "rising", "dose_deviation"}
    assert evaluate_log(fact(DAY, 5), [], None, TH) == []


def test_a_gap_that_goes_on_is_a_new_situation_each_week():
    """Resolved after the first call, the patient still silent: from the second week on, each
    whole week of the same gap is a cause of its own, so the care team hears of it again."""
    start = DAY - timedelta(days=60)
    last = DAY - timedelta(days=3)

    def cause(days_later: int) -> str:
        return missed_logs_rule(last, DAY + timedelta(days=days_later), start, None, TH).cause

    since = f"since:{last.isoformat()}"
    assert [cause(d) for d in (0, 4, 5, 11, 12, 19)] == [
        since,
        since,
        f"{since}+1w",
        f"{since}+1w",
        f"{since}+2w",
        f"{since}+3w",
    ]


@pytest.mark.parametrize(
    ("taken", "scheduled", "tier"),
    [
        ("5", "10", "review"),  # less than planned
        ("20", "10", "review"),  # twice: asked about only above it
        ("20.5", "10", "urgent"),  # more than twice the plan
        ("1.5", "0.5", "urgent"),  # at the end of a taper too
        ("65", "60", "urgent"),  # above diazepam's usual maximum (60 mg), whatever the plan
    ],
)
def test_a_dose_far_above_the_plan_is_urgent(taken, scheduled, tier):
    """ "Took more than the prescribed dose" is a red flag of the clinical reference."""
    (found,) = dose_deviation_rule(fact(DAY, doses=[dose(taken, scheduled)]))
    assert found.tier == tier
    assert found.reason.endswith("(far more than the plan: the patient confirmed it)") == (
        tier == "urgent"
    )
