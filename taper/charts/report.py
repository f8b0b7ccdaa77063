"""The one-page visit report as a PDF (matplotlib's PDF backend; no other dependency)."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from datetime import date

from matplotlib.backends.backend_pdf import FigureCanvasPdf
from matplotlib.figure import Figure

from taper.charts.data import ProgressData, summary
from taper.charts.render import add_legends, draw_progress, style_axes
from taper.domain.instrument import CIWA_B

A4 = (8.27, 11.69)


@dataclass(frozen=True)
class ReportPlan:
    """One plan on the report: its title, the dose in force today with its status (held,
    paused, last, stopped), and its steps as typed (dates as holds and pauses moved them)."""

    title: str  # e.g. "Diazepam (mg), active"
    in_force: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class ReportData:
    """Plain facts for the report; every text is drawn with mathtext off."""

    patient: str
    generated: date
    plans: tuple[ReportPlan, ...]  # every running plan (else the latest finished one)
    revisions: tuple[str, ...]  # one line per revision, newest first
    logs: tuple[tuple[str, ...], ...]  # rows: day, score, red flags, taken/scheduled, sleep
    alerts: tuple[str, ...]  # open urgent first, then open others, then the rest
    progress: ProgressData


def _lines(
    fig: Figure,
    x: float,
    y: float,
    lines,
    size: float = 8,
    step: float = 0.0125,
    limit: int = 12,
    weight: str = "normal",
    width: int = 62,
    wrap: bool = True,
    more: str = "more",
) -> float:
    """Draw lines of text downwards from (x, y), wrapped (or each cut to one line); return
    where the next line goes."""
    shown = list(lines)[:limit]
    if len(lines) > limit:
        shown.append(f"… and {len(lines) - limit} {more}")
    if wrap:
        shown = [part for line in shown for part in textwrap.wrap(line, width) or [""]]
    else:
        shown = [textwrap.shorten(line, width, placeholder=" …") for line in shown]
    for line in shown:
        fig.text(
            x, y, line, fontsize=size, parse_math=False, fontweight=weight, family="DejaVu Sans"
        )
        y -= step
    return y


def visit_report(data: ReportData) -> bytes:
    """One A4 page: each plan with its dose in force and steps, the revisions, the progress
    chart, the last logs (a dose per plan) and the alerts, open urgent ones first."""
    fig = Figure(figsize=A4)
    FigureCanvasPdf(fig)
    fig.text(
        0.06,
        0.965,
        f"Taper visit report: {data.patient}",
        fontsize=15,
        fontweight="bold",
        parse_math=False,
    )
    fig.text(
        0.06,
        0.948,
        f"Generated {data.generated.isoformat()}. Doses are shown exactly as "
        "the clinician entered them.",
        fontsize=8,
        parse_math=False,
    )
    y = 0.925
    if not data.plans:
        y = _lines(fig, 0.06, y, ["No taper plan yet"], size=10, weight="bold")
    # Every plan is listed: its steps share the room above the chart (about 21 lines; each
    # plan's title, dose in force and "… more" take four).
    count = max(len(data.plans), 1)
    per_plan = min(10, max(1, (21 - 4 * count) // count))
    for plan in data.plans:
        y = _lines(fig, 0.06, y, [plan.title], size=10, weight="bold", wrap=False)
        y = _lines(fig, 0.06, y, [plan.in_force], size=7.5, weight="bold", width=64)
        y = _lines(fig, 0.06, y, plan.steps, limit=per_plan, size=7.5, wrap=False) - 0.004
    col_y = _lines(fig, 0.55, 0.925, ["Revisions"], size=10, weight="bold")
    _lines(fig, 0.55, col_y, data.revisions, limit=12, size=7, width=60)
    top = max(min(y, 0.79), 0.64) - 0.01
    dose_ax = fig.add_axes((0.09, top - 0.13, 0.86, 0.12))
    score_ax = fig.add_axes((0.09, top - 0.29, 0.86, 0.15), sharex=dose_ax)
    style_axes(dose_ax, score_ax, 8)
    add_legends(dose_ax, score_ax, 8)
    dose_ax.tick_params(labelbottom=False)
    draw_progress(dose_ax, score_ax, data.progress)
    y = top - 0.33
    y = _lines(fig, 0.06, y, [textwrap.shorten(summary(data.progress), 480)], size=7, width=125)
    y = _lines(fig, 0.06, y - 0.01, ["Last 14 logs"], size=10, weight="bold")
    header = ("Day", f"Score (0-{CIWA_B.patient_max})", "Red flags", "Taken / scheduled", "Sleep")
    columns = (0.06, 0.17, 0.27, 0.52, 0.9)
    for row in (header, *data.logs[:14]):
        for x, cell in zip(columns, row, strict=False):
            fig.text(
                x,
                y,
                textwrap.shorten(cell, 60 if x == columns[3] else 44, placeholder="…"),
                fontsize=7,
                parse_math=False,
                fontweight="bold" if row is header else "normal",
            )
        y -= 0.0125
    y = _lines(fig, 0.06, y - 0.01, ["Open and recent alerts"], size=10, weight="bold")
    room = max(int((y - 0.015) / 0.0115), 3)  # what fits above the bottom margin
    _lines(
        fig,
        0.06,
        y,
        data.alerts or ("None.",),
        limit=room - 1,
        size=7,
        step=0.0115,
        width=125,
        wrap=False,
        more="more (see the alert inbox)",
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="pdf", metadata={"CreationDate": None, "Title": "Taper report"})
    return buffer.getvalue()
