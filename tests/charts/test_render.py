"""Chart rendering as pure functions: formats, the schedule as typed, text that is not math."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from taper.charts.data import HeatmapData, ProgressData, summary
from taper.charts.render import heatmap_chart, progress_chart, progress_figure
from taper.charts.report import ReportData, visit_report

START = date(2026, 3, 1)
STEPS = (
    (START, Decimal("10")),
    (START + timedelta(days=14), Decimal("7.5")),
    (START + timedelta(days=28), Decimal("5")),
    (START + timedelta(days=42), Decimal("0")),
)
DAYS = [START + timedelta(days=i) for i in range(50)]
DATA = ProgressData(
    start=START,
    end=DAYS[-1],
    steps=STEPS,
    holds=((DAYS[20], DAYS[25]),),
    taken=tuple((d, Decimal("7.5")) for d in DAYS[:30]),
    scores=tuple((d, 10 + (i % 7)) for i, d in enumerate(DAYS)),
    red_flag_days=(DAYS[17],),
)


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
    assert progress_chart(DATA, "png") == first


def test_step_line_values_are_the_stored_steps():
    """Read back from the figure's artists: the schedule line is exactly the typed steps."""
    fig = progress_figure(DATA)
    (line,) = [a for a in fig.axes[0].lines if a.get_gid() == "schedule"]
    assert list(line.get_xdata()) == [d.toordinal() for d, _ in STEPS]
    assert list(line.get_ydata()) == [10.0, 7.5, 5.0, 0.0]
    assert line.get_drawstyle() == "steps-post"
    # Nothing is drawn for the schedule after the last step's date.
    assert max(line.get_xdata()) == STEPS[-1][0].toordinal()


def test_patient_view_is_simpler_and_larger():
    simple = progress_figure(replace(DATA, simple=True))
    full = progress_figure(DATA)
    assert simple.get_size_inches()[1] >= full.get_size_inches()[1]
    assert simple.axes[1].yaxis.label.get_fontsize() > full.axes[1].yaxis.label.get_fontsize()


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
    assert "Dose 10 mg → 7.5 mg on 15 March" in text
    assert "symptom score" in text
    assert "1 day(s) with a red flag" in text


@pytest.mark.parametrize("text", ["$x$", r"\frac{1}{2}", "$\\alpha_{", "50% off $5"])
def test_user_text_with_math_characters_does_not_break_the_pdf(text):
    report = ReportData(
        patient=f"Robin {text}",
        generated=START,
        plan_title=f"{text} (mg), active",
        steps=(f"From 2026-03-01: 10 mg a day. {text}",),
        revisions=(f"1. {text}",),
        logs=(("2026-03-02", "12", text, "10 / 10", "7 h"),),
        alerts=(text,),
        progress=DATA,
    )
    pdf = visit_report(report)
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert 5_000 < len(pdf) < 500_000
    assert b"/Count 1" in pdf  # one page
