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

A4 = (8.27, 11.69)


@dataclass(frozen=True)
class ReportData:
    """Plain facts for the report; every text is drawn with mathtext off."""

    patient: str
    generated: date
    plan_title: str  # e.g. "Diazepam (mg), active"
    steps: tuple[str, ...]  # one line per step, as typed
    revisions: tuple[str, ...]  # one line per revision
    logs: tuple[tuple[str, ...], ...]  # rows: day, score, red flags, taken/scheduled, sleep
    alerts: tuple[str, ...]
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
) -> float:
    """Draw wrapped lines of text downwards from (x, y); return where the next line goes."""
    shown = list(lines)[:limit]
    if len(lines) > limit:
        shown.append(f"… and {len(lines) - limit} more")
    shown = [part for line in shown for part in textwrap.wrap(line, width) or [""]]
    for line in shown:
        fig.text(
            x, y, line, fontsize=size, parse_math=False, fontweight=weight, family="DejaVu Sans"
        )
        y -= step
    return y


def visit_report(data: ReportData) -> bytes:
    """One A4 page: plan and revisions, the progress chart, the last logs, the alerts."""
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
    y = _lines(fig, 0.06, 0.925, [data.plan_title], size=10, weight="bold")
    y = _lines(fig, 0.06, y, data.steps, limit=10)
    col_y = _lines(fig, 0.55, 0.925, ["Revisions"], size=10, weight="bold")
    _lines(fig, 0.55, col_y, data.revisions, limit=10, size=7, width=60)
    top = min(y, 0.79) - 0.01
    dose_ax = fig.add_axes((0.09, top - 0.13, 0.86, 0.12))
    score_ax = fig.add_axes((0.09, top - 0.29, 0.86, 0.15), sharex=dose_ax)
    style_axes(dose_ax, score_ax, 8)
    add_legends(dose_ax, score_ax, 8)
    dose_ax.tick_params(labelbottom=False)
    draw_progress(dose_ax, score_ax, data.progress)
    y = top - 0.33
    y = _lines(fig, 0.06, y, [summary(data.progress)], size=7, limit=1, width=150)
    y = _lines(fig, 0.06, y - 0.01, ["Last 14 logs"], size=10, weight="bold")
    header = ("Day", "Score (0-68)", "Red flags", "Taken / scheduled", "Sleep")
    columns = (0.06, 0.2, 0.33, 0.6, 0.82)
    for row in (header, *data.logs[:14]):
        for x, cell in zip(columns, row, strict=False):
            fig.text(
                x,
                y,
                cell,
                fontsize=7.5,
                parse_math=False,
                fontweight="bold" if row is header else "normal",
            )
        y -= 0.0125
    y = _lines(fig, 0.06, y - 0.01, ["Open and recent alerts"], size=10, weight="bold")
    _lines(fig, 0.06, y, data.alerts or ("None.",), limit=10, size=7.5)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="pdf", metadata={"CreationDate": None, "Title": "Taper report"})
    return buffer.getvalue()
