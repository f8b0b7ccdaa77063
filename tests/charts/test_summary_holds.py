"""The chart's words count only the holds inside the range shown (issue 15, item 11): a hold
that ended before the range is not named, one inside is, and one that began before the range
says so instead of pretending it began on the range's first day."""

from datetime import date, timedelta
from decimal import Decimal

from taper.charts.data import ProgressData, summary
from taper.charts.render import progress_figure
from taper.domain.schedule import StepInput
from taper.domain.timeline import PAUSE, Hold, PlanSchedule
from taper.services.progress import _series

START = date(2026, 3, 1)
END = START + timedelta(days=29)
SCHEDULE = PlanSchedule(
    1,
    "diazepam",
    "mg",
    True,
    (
        StepInput(START - timedelta(days=60), Decimal("10")),
        StepInput(START + timedelta(days=40), Decimal("5")),
    ),
    None,
)


def shown(*holds):
    series = _series(SCHEDULE, START, END, list(holds), [])
    return series, summary(ProgressData(start=START, end=END, plans=(series,)))


def test_a_hold_that_ended_before_the_range_is_not_counted():
    before = (Hold(START - timedelta(days=30), START - timedelta(days=20)), False)
    series, text = shown(before)
    assert series.holds == ()
    assert "Held" not in text


def test_a_hold_inside_the_range_is_named_with_its_dates():
    inside = (Hold(START + timedelta(days=5), START + timedelta(days=9)), False)
    series, text = shown(inside)
    assert series.holds == ((START + timedelta(days=5), START + timedelta(days=9), "hold", False),)
    assert "Held from 6 March to 10 March" in text


def test_a_hold_straddling_the_start_says_it_began_before_the_range():
    straddling = (Hold(START - timedelta(days=3), START + timedelta(days=2), PAUSE), False)
    series, text = shown(straddling)
    assert series.holds == ((START - timedelta(days=3), START + timedelta(days=2), "pause", False),)
    assert "Paused from 26 February (before this range) to 3 March" in text
    assert "from 1 March to 3 March" not in text  # not as if it began on the range's first day


def test_before_inside_and_straddling_together_count_two():
    series, text = shown(
        (Hold(START - timedelta(days=30), START - timedelta(days=20)), False),
        (Hold(START - timedelta(days=3), START + timedelta(days=2)), False),
        (Hold(START + timedelta(days=5), START + timedelta(days=9)), False),
        (Hold(END + timedelta(days=5), END + timedelta(days=9)), False),  # after the range
    )
    assert len(series.holds) == 2
    assert text.count("Held from") == 2
    # The chart shades and names both, the straddling one from the range's first day.
    fig = progress_figure(ProgressData(start=START, end=END, plans=(series,)))
    labels = [t for t in fig.axes[0].texts if t.get_gid() == "hold-label"]
    assert [round(t.get_position()[0]) for t in labels] == [
        START.toordinal(),
        (START + timedelta(days=5)).toordinal(),
    ]


def test_an_open_hold_that_began_before_the_range_runs_to_its_end():
    series, text = shown((Hold(START - timedelta(days=10), None), True))
    assert series.holds == ((START - timedelta(days=10), END, "hold", True),)
    assert "Held from 19 February (before this range) until the clinician reviews it" in text
