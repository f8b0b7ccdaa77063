"""The heatmap's words: which symptoms rose after a dose change (issue 5, accessible charts)."""

from datetime import date, timedelta
from decimal import Decimal

from taper.charts.data import HeatmapData, heatmap_summary

DAYS = tuple(date(2026, 3, 1) + timedelta(days=i) for i in range(21))
CUT = date(2026, 3, 11)
ITEMS = ("Anxious", "Sleep not restful", "Tired")


def heat(anxious_after=3, sleep_after=1, changes=(CUT,), logged=True, sleep=()):
    def row(before, after):
        if not logged:
            return (None,) * len(DAYS)
        return tuple(after if d >= CUT else before for d in DAYS)

    return HeatmapData(
        days=DAYS,
        items=ITEMS,
        values=(row(1, anxious_after), row(1, sleep_after), row(2, 2)),
        dose_changes=changes,
        sleep=sleep,
    )


def test_names_the_items_that_rose_after_a_cut_with_before_and_after():
    text = heatmap_summary(heat())
    assert "from the dose change on 11 March, Anxious 1.0 → 3.0 rose" in text
    assert "Sleep not restful" not in text  # steady
    assert "Tired" not in text
    assert text.startswith("Symptoms 0 to 4 by day, 1 March to 21 March, 21 days logged")


def test_orders_the_rises_largest_first():
    text = heatmap_summary(heat(anxious_after=2, sleep_after=4))
    assert text.index("Sleep not restful 1.0 → 4.0") < text.index("Anxious 1.0 → 2.0")


def test_says_when_nothing_rose():
    assert "no symptom rose by 1 point or more after 11 March" in heatmap_summary(
        heat(anxious_after=1)
    )


def test_without_a_cut_gives_the_highest_items():
    text = heatmap_summary(heat(anxious_after=4, changes=()))
    # Anxious: 10 days at 1, 11 at 4 -> 2.6; Tired 2.0; Sleep not restful 1.0.
    assert "no dose change in this range; highest on average: Anxious 2.6, Tired 2.0" in text


def test_no_logs_and_sleep():
    assert heatmap_summary(heat(logged=False)) == "No logs between 1 March and 21 March."
    nights = ((DAYS[0], Decimal("6")), (DAYS[1], Decimal("7")))
    assert "sleep 6.5 hours a night on average" in heatmap_summary(heat(sleep=nights))
