"""Alert rules at, below and above their thresholds."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from taper.domain.alert_rules import (
    LogFacts,
    Thresholds,
    dose_deviation_rule,
    evaluate_log,
    high_score_rule,
    missed_logs_rule,
    red_flag_rule,
    rising_rule,
)

TH = Thresholds()
DAY = date(2026, 5, 20)


def fact(day: date, total: int = 0, flags=(), taken=None, scheduled=None) -> LogFacts:
    return LogFacts(day, total, tuple(flags), taken, scheduled)


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
    [
        ("7.5", "7.50", False),
        ("10", "7.5", True),
        ("0", "7.5", True),
        (None, "7.5", False),
        ("7.5", None, False),
    ],
)
def test_dose_deviation_compares_decimals(taken, scheduled, fires):
    log = fact(DAY, taken=taken and Decimal(taken), scheduled=scheduled and Decimal(scheduled))
    assert (dose_deviation_rule(log) is not None) == fires


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


def test_evaluate_log_combines_the_per_log_rules():
    logs = history([10] * 7, [45, 45], DAY)
    latest = fact(DAY + timedelta(days=2), 45, ["confusion"], Decimal("5"), Decimal("7.5"))
    kinds = {f.kind for f in evaluate_log(latest, logs, DAY, TH)}
    assert kinds == {"red_flag", "high_score", "rising", "dose_deviation"}
    assert evaluate_log(fact(DAY, 5), [], None, TH) == []
