"""Chart rendering as pure functions: formats, the schedule as the timeline has it, holds and
pauses shaded and named, text that is not math, and dates at the end of the calendar."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from taper.charts.data import (
    HeatmapData,
    PlanSeries,
    ProgressData,
    heatmap_summary,
    schedule_line,
    summary,
)
from taper.charts.render import heatmap_chart, progress_chart, progress_figure
from taper.charts.report import ReportData, ReportPlan, visit_report
from taper.domain.schedule import StepInput
from taper.domain.timeline import PAUSE, Hold, PlanSchedule, place_hold, resume
from tests.charts.pdf import page_count, pdf_text, text_objects

START = date(2026, 3, 1)
TYPED = (
    (START, Decimal("10")),
    (START + timedelta(days=14), Decimal("7.5")),
    (START + timedelta(days=28), Decimal("5")),
    (START + timedelta(days=42), Decimal("0")),
)
DAYS = [START + timedelta(days=i) for i in range(50)]


def plan(steps=TYPED, hold=None, *, plan_id=1, medication="diazepam", running=True):
    return PlanSchedule(
        plan_id,
        medication,
        "mg",
        running,
        tuple(StepInput(day, dose) for day, dose in steps),
        hold,
    )


def series(schedule: PlanSchedule, start=START, end=DAYS[-1], holds=(), taken=()):
    points, line_end, open_from = schedule_line(schedule, start, end)
    return PlanSeries(
        schedule.plan_id,
        schedule.medication,
        schedule.unit,
        schedule.running,
        points,
        line_end,
        open_from,
        tuple(holds),
        tuple(taken),
    )


DATA = ProgressData(
    start=START,
    end=DAYS[-1],
    plans=(
        series(
            plan(),
            holds=((DAYS[20], DAYS[25], "hold", False),),
            taken=tuple((d, Decimal("7.5")) for d in DAYS[:30]),
        ),
    ),
    scores=tuple((d, 10 + (i % 7)) for i, d in enumerate(DAYS)),
    red_flag_days=(DAYS[17],),
)


def lines(fig, prefix: str):
    return [a for a in fig.axes[0].lines if (a.get_gid() or "").startswith(prefix)]


@pytest.mark.parametrize(("fmt", "signature"), [("png", b"\x89PNG\r\n\x1a\n"), ("svg", b"<?xml")])
def test_progress_chart_formats(fmt, signature):
    image = progress_chart(DATA, fmt)
    assert image.startswith(signature)
    assert 5_000 < len(image) < 400_000
    if fmt == "svg":
        assert b"<svg" in image[:2000]


def test_reused_figure_gives_the_same_image_as_a_fresh_render():
    first = progress_chart(DATA, "png")
    progress_chart(replace(DATA, scores=()), "png")  # something else in between
    crossover = replace(DATA, plans=(*DATA.plans, series(plan(plan_id=2, medication="x"))))
    progress_chart(crossover, "png")  # more plans, another legend, in between
    assert progress_chart(DATA, "png") == first


def test_step_line_values_are_the_stored_steps_and_stop_at_the_last_step():
    """Read back from the figure's artists: the schedule line is exactly the typed steps,
    and nothing is drawn after the last (0 mg) step's date."""
    fig = progress_figure(DATA)
    (line,) = lines(fig, "schedule")
    assert list(line.get_xdata()) == [d.toordinal() for d, _ in TYPED] + [TYPED[-1][0].toordinal()]
    assert list(line.get_ydata()) == [10.0, 7.5, 5.0, 0.0, 0.0]
    assert line.get_drawstyle() == "steps-post"
    assert max(line.get_xdata()) == TYPED[-1][0].toordinal()
    assert lines(fig, "until-reviewed") == []  # a plan that stops at 0 mg has no open end


def test_held_schedule_stays_flat_and_the_next_step_starts_on_its_moved_date():
    """4 → 3 → 2 → 1 → 0 a week apart, held at 4 mg from day 3 to day 16: the line stays at
    4 mg through day 16, goes to 3 mg (never 2 mg) on day 17, and 2 mg a week later."""
    typed = [StepInput(START + timedelta(days=7 * i), Decimal(v)) for i, v in enumerate("43210")]
    steps, hold = place_hold(typed, START + timedelta(days=3), START + timedelta(days=16))
    held = PlanSchedule(1, "diazepam", "mg", True, tuple(steps), hold)
    points, line_end, open_from = schedule_line(held, START, START + timedelta(days=59))
    assert [(p.day - START).days for p in points] == [0, 3, 17, 24, 31, 38]
    assert [p.dose for p in points] == [Decimal(v) for v in ("4", "4", "3", "2", "1", "0")]
    assert [p.status for p in points] == ["active", "held", "active", "active", "active", "stopped"]
    assert (line_end - START).days == 38
    assert open_from is None
    shown = series(held, end=START + timedelta(days=59))
    assert shown.changes == tuple(START + timedelta(days=d) for d in (17, 24, 31, 38))
    fig = progress_figure(replace(DATA, plans=(shown,)))
    (line,) = lines(fig, "schedule")
    day = {x: y for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)}
    assert day[(START + timedelta(days=3)).toordinal()] == 4.0
    assert day[(START + timedelta(days=17)).toordinal()] == 3.0


def test_open_hold_stays_flat_to_the_end_of_the_range_marked_until_reviewed():
    typed = [StepInput(START + timedelta(days=7 * i), Decimal(v)) for i, v in enumerate("4321")]
    steps, hold = place_hold(typed, START + timedelta(days=10), None)
    held = PlanSchedule(1, "diazepam", "mg", True, tuple(steps), hold)
    end = START + timedelta(days=40)
    points, line_end, open_from = schedule_line(held, START, end)
    assert [(p.dose, p.status) for p in points] == [
        (Decimal("4"), "active"),
        (Decimal("3"), "active"),
        (Decimal("3"), "held"),
    ]
    assert (line_end, open_from) == (end, START + timedelta(days=10))


def test_paused_then_resumed_plan_is_flat_through_the_pause_and_moves_the_rest():
    typed = [StepInput(START + timedelta(days=7 * i), Decimal(v)) for i, v in enumerate("4321")]
    pause = Hold(START + timedelta(days=9), None, PAUSE)
    steps, ended = resume(typed, pause, START + timedelta(days=19))  # paused 10 days
    paused = PlanSchedule(1, "diazepam", "mg", True, tuple(steps), ended)
    points, _, open_from = schedule_line(paused, START, START + timedelta(days=60))
    assert [((p.day - START).days, p.dose, p.status) for p in points] == [
        (0, Decimal("4"), "active"),
        (7, Decimal("3"), "active"),
        (9, Decimal("3"), "paused"),
        (19, Decimal("3"), "active"),
        (24, Decimal("2"), "active"),  # was day 14: moved by the 10 days paused
        (31, Decimal("1"), "last"),
    ]
    assert open_from == START + timedelta(days=31)  # the last step stays until reviewed


def test_last_step_that_is_not_zero_runs_to_the_end_of_the_range_dashed():
    steps = ((START, Decimal("2")), (START + timedelta(days=10), Decimal("1")))
    shown = series(plan(steps))
    assert shown.line_end == DAYS[-1]
    assert shown.open_from == START + timedelta(days=10)
    fig = progress_figure(replace(DATA, plans=(shown,)))
    (solid,) = lines(fig, "schedule")
    assert max(solid.get_xdata()) == shown.open_from.toordinal()
    (dashed,) = lines(fig, "until-reviewed")
    assert dashed.get_linestyle() != "-"
    assert list(dashed.get_ydata()) == [1.0, 1.0]
    assert max(dashed.get_xdata()) >= DAYS[-1].toordinal()
    assert "until reviewed" in [t.get_text() for t in fig.axes[0].texts]
    assert "stays in force until the clinician reviews the plan" in summary(
        replace(DATA, plans=(shown,))
    )


def test_finished_plan_is_not_drawn_past_its_last_step():
    steps = ((START, Decimal("2")), (START + timedelta(days=10), Decimal("1")))
    points, line_end, open_from = schedule_line(plan(steps, running=False), START, DAYS[-1])
    assert (line_end, open_from) == (START + timedelta(days=10), None)
    assert points[-1].dose == Decimal("1")


def test_holds_and_pauses_are_shaded_and_named():
    shown = replace(
        DATA.plans[0],
        holds=(
            (DAYS[5], DAYS[9], "hold", False),
            (DAYS[20], DAYS[25], "pause", False),
            (DAYS[40], DAYS[-1], "hold", True),
        ),
    )
    fig = progress_figure(replace(DATA, plans=(shown,)))
    dose_ax = fig.axes[0]
    shades = [a.get_gid() for a in dose_ax.get_children()]
    assert shades.count("hold") == 2
    assert shades.count("pause") == 1
    labels = [t.get_text() for t in dose_ax.texts]
    assert labels == ["Hold", "Pause", "Hold, until reviewed"]
    text = summary(replace(DATA, plans=(shown,)))
    assert "Held from 6 March to 10 March" in text
    assert "Paused from 21 March to 26 March" in text
    assert "Held from 10 April until the clinician reviews it" in text


def test_patient_view_is_phone_sized_by_default_and_the_clinicians_wide():
    """Without a layout asked for, the patient's chart is drawn for a phone and the
    clinician's for a desktop page, each with text of at least 13 px where it is shown."""
    simple = progress_figure(replace(DATA, simple=True))
    full = progress_figure(DATA)
    assert tuple(simple.get_size_inches() * 72) == (328, 440)
    assert tuple(full.get_size_inches() * 72) == (920, 460)
    assert simple.axes[1].yaxis.label.get_fontsize() >= 15
    assert full.axes[1].yaxis.label.get_fontsize() >= 14


def test_heatmap_and_sleep_render():
    data = HeatmapData(
        days=tuple(DAYS[:10]),
        items=("Irritable", "Tired"),
        values=((0, 1, 2, 3, 4, None, 0, 1, 2, 3),) * 2,
        dose_changes=(DAYS[5],),
        sleep=((DAYS[0], Decimal("6.5")),),
    )
    assert heatmap_chart(data, "png").startswith(b"\x89PNG")
    assert heatmap_chart(data, "svg").startswith(b"<?xml")


def test_empty_chart_still_renders():
    empty = ProgressData(start=START, end=START + timedelta(days=29))
    assert progress_chart(empty).startswith(b"\x89PNG")
    assert summary(empty).startswith("No data between")


def test_summary_reads_like_the_issue_asks():
    text = summary(DATA)
    # The dose in force on the range's first day may have begun before it: not "from".
    assert text.startswith("Diazepam: Dose 10 mg on 1 March, the first day shown.")
    assert "Dose 10 mg → 7.5 mg on 15 March" in text
    assert "symptom score" in text
    assert "1 day(s) with a red flag" in text


def test_cache_key_covers_every_plan_and_hold():
    other = series(plan(plan_id=2, medication="alprazolam"))
    keys = {
        DATA.cache_key("png"),
        replace(DATA, plans=(*DATA.plans, other)).cache_key("png"),
        replace(DATA, plans=(replace(DATA.plans[0], holds=()),)).cache_key("png"),
        replace(DATA, plans=(replace(DATA.plans[0], taken=()),)).cache_key("png"),
        replace(DATA, plans=(replace(DATA.plans[0], open_from=DAYS[3]),)).cache_key("png"),
        DATA.cache_key("svg"),
    }
    assert len(keys) == 6
    assert DATA.cache_key("png") == replace(DATA).cache_key("png")


def test_dates_at_the_end_of_the_calendar_never_overflow():
    """A step or hold stored at 9999-12-31 (past every form check) still draws and reads."""
    last = date.max
    steps = ((last - timedelta(days=40), Decimal("2")), (last, Decimal("1")))
    far = plan(steps, Hold(last - timedelta(days=5), last))
    start, end = last - timedelta(days=29), last
    shown = series(far, start, end, holds=((last - timedelta(days=5), last, "hold", False),))
    assert shown.schedule[0].day == start
    data = ProgressData(start=start, end=end, plans=(shown,), scores=((last, 3),))
    assert progress_chart(data).startswith(b"\x89PNG")
    assert "Held from" in summary(data)
    early = plan(((date.min, Decimal("2")), (date.min + timedelta(days=3), Decimal("0"))))
    assert schedule_line(early, date.min, date.min + timedelta(days=9))[1] == date.min + timedelta(
        days=3
    )
    heat = HeatmapData(days=(last,), items=("Tired",), values=((2,),), dose_changes=(last,))
    assert "after 31 December" in heatmap_summary(heat)
    assert heatmap_chart(heat).startswith(b"\x89PNG")


@pytest.mark.parametrize("text", ["$x$", r"\frac{1}{2}", "$\\alpha_{", "50% off $5"])
def test_user_text_with_math_characters_does_not_break_the_pdf(text):
    report = ReportData(
        patient=f"Robin {text}",
        generated=START,
        plans=(
            ReportPlan(
                title=f"{text} (mg), active",
                in_force=f"Today: 10 mg a day {text}",
                steps=(f"From 2026-03-01: 10 mg a day. {text}",),
            ),
        ),
        revisions=(f"1. {text}",),
        logs=(("2026-03-02", "12", text, "10 / 10", "7 h"),),
        alerts=(text,),
        progress=replace(DATA, plans=(replace(DATA.plans[0], medication=text),)),
    )
    pdf = visit_report(report)
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert 5_000 < len(pdf) < 500_000
    assert page_count(pdf) == 1  # a short report is one page


def test_report_with_many_plans_and_alerts_flows_onto_pages_at_10_pt():
    many = tuple(
        ReportPlan(
            f"Drug {i} (mg), active", "Today: 1 mg a day.", ("From 2026-03-01: 1 mg a day",) * 12
        )
        for i in range(4)
    )
    report = ReportData(
        patient="Robin",
        generated=START,
        plans=many,
        revisions=tuple(f"{i}. reason" for i in range(40)),
        logs=(("2026-03-02", "12", "-", "a 1 / 1; b 2 / 2; c 3 / 3; d 4 / 4", "7 h"),) * 14,
        alerts=tuple(f"2026-03-01 urgent red flag: reason {i} [open]" for i in range(80)),
        progress=DATA,
    )
    pdf = visit_report(report)
    assert 2 <= page_count(pdf) <= 8
    assert min(size for size, _ in text_objects(pdf)) >= 10
    text = pdf_text(pdf)
    assert "reason 79 [open]" in text  # every open alert, none left out
    assert text.count("From 2026-03-01: 1 mg a day") == 48
    assert visit_report(report) == pdf  # same data, same bytes
