"""The visit report as a PDF (matplotlib's PDF backend; no other dependency): A4 pages of
text at 10 pt or more, laid out top to bottom and continued on a new page when full.

What a clinician asks for at a visit: each plan with its dose in force, any hold or pause, and
its steps exactly as typed (the ones to come first); the progress chart; missed days; the
symptoms item by item; the patient's notes as typed; the last logs; the alerts; the revisions;
and the clinic's contact line. Every text is drawn with mathtext off and characters the font
lacks replaced, so nothing a person typed can break the file."""

from __future__ import annotations

import io
import textwrap
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import FigureCanvasPdf, PdfPages
from matplotlib.figure import Figure

from taper.charts.data import ProgressData, summary
from taper.charts.render import Layout, draw_progress, style_axes
from taper.domain.instrument import CIWA_B

A4 = (8.27, 11.69)  # inches
PAGE_W, PAGE_H = A4[0] * 72, A4[1] * 72  # points
MARGIN = 42  # points (about 15 mm)
BODY = 10  # the body text size in points: nothing on the report is smaller
HEADING = 12.5
TITLE = 16
LINE = 1.42  # line height, in text sizes
FONT = "DejaVu Sans"
# The chart at the report's size: one point a "pixel", text at the body size.
CHART = Layout("report", int(PAGE_W - 2 * MARGIN), 250, BODY, 0, 7)
CHAR_WIDTH = 0.6  # a generous average character width, in text sizes (for wrapping)
NOTE_LIMIT = 1500  # characters of one note; a longer one says where to read the rest


@dataclass(frozen=True)
class ReportPlan:
    """One plan on the report: its title, the dose in force today with its status, any hold
    or pause in words, and its steps exactly as typed (dates as holds and pauses moved them):
    the one in force and those to come, then the earlier ones."""

    title: str  # e.g. "Diazepam (mg), active"
    in_force: str
    steps: tuple[str, ...] = ()  # the step in force and the steps to come
    earlier: tuple[str, ...] = ()
    hold: str = ""  # "On hold since … until …" / "Paused since …", else ""


@dataclass(frozen=True)
class SymptomTable:
    """Each patient-rated item's mean over each period (None: no log that period) and its
    latest answer."""

    periods: tuple[str, ...]  # column headings, oldest first
    rows: tuple[tuple[str, tuple[float | None, ...], int | None], ...]  # label, means, latest
    latest_day: date | None = None


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
    period: tuple[date, date] | None = None  # the days the notes, symptoms and missed cover
    missed: tuple[date, ...] = ()  # days in the period with no log (today not before it ends)
    today_open: bool = False  # today is in the period and not logged yet: not counted
    notes: tuple[tuple[date, str], ...] = ()  # (day, note as typed), newest first
    symptoms: SymptomTable | None = None
    contact: str = ""  # the clinic's contact line (config CLINIC_CONTACT); "" for none


@cache
def _glyphs() -> frozenset[int]:
    """The code points the report's font can draw."""
    font = font_manager.get_font(font_manager.findfont(FONT))
    return frozenset(font.get_charmap())


def printable(text: str) -> str:
    """``text`` as the font can draw it on one line: control characters (new lines, tabs)
    become spaces and a character the font lacks becomes "?", so what a person typed can
    never break the PDF; everything else stays exactly as typed."""
    glyphs = _glyphs()
    out = []
    for char in text:
        if unicodedata.category(char)[0] == "C":
            out.append(" ")
        elif ord(char) in glyphs or char == " ":
            out.append(char)
        else:
            out.append("?")
    return "".join(out)


def _fits(size: float, width: float) -> int:
    """How many characters of text at ``size`` fit in ``width`` points."""
    return max(int(width / (size * CHAR_WIDTH)), 8)


def period_words(start: date, end: date) -> str:
    """ "6 Nov to 3 Dec 2026 (28 days)"."""
    days = (end - start).days + 1
    first = f"{start.day} {start:%b}" + (f" {start.year}" if start.year != end.year else "")
    return f"{first} to {end.day} {end:%b %Y} ({days} day{'s' if days != 1 else ''})"


def missed_words(missed: tuple[date, ...]) -> str:
    """Missed days as runs: "3–5 Nov, 9 Nov"."""
    runs: list[list[date]] = []
    for day in missed:
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])

    def run(days: list[date]) -> str:
        first, last = days[0], days[-1]
        if first == last:
            return f"{first.day} {first:%b}"
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day}–{last.day} {last:%b}"
        return f"{first.day} {first:%b} – {last.day} {last:%b}"

    return ", ".join(run(r) for r in runs)


class Pages:
    """Figures of A4 pages and a cursor: text flows down and on to a new page when full."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.figures: list[Figure] = []
        self.y = 0.0
        self.new_page()

    def new_page(self) -> None:
        """Start a page (after the first, with the report's title and "continued")."""
        fig = Figure(figsize=A4)
        FigureCanvasPdf(fig)
        self.figures.append(fig)
        self.y = PAGE_H - MARGIN
        if len(self.figures) > 1:
            self.text(f"{self.title} (continued)", BODY, weight="bold")
            self.y -= 4

    @property
    def fig(self) -> Figure:
        return self.figures[-1]

    def room(self, points: float) -> None:
        """Go on to a new page unless ``points`` more fit above the bottom margin (and the
        footer)."""
        if self.y - points < MARGIN + BODY * 2:
            self.new_page()

    def text(
        self,
        line: str,
        size: float = BODY,
        *,
        x: float = MARGIN,
        weight: str = "normal",
        width: float | None = None,
        wrap: bool = True,
        indent: str = "",
    ) -> None:
        """Draw ``line`` (made printable), wrapped to ``width`` points, going on to a new page
        when full."""
        width = width or (PAGE_W - MARGIN - x)
        chars = _fits(size, width)
        clean = printable(line)
        parts = (
            textwrap.wrap(clean, chars, subsequent_indent=indent, break_long_words=True) or [""]
            if wrap
            else [textwrap.shorten(clean, chars, placeholder=" …")]
        )
        for part in parts:
            self.room(size * LINE)
            self.y -= size * LINE
            self.fig.text(
                x / PAGE_W,
                self.y / PAGE_H,
                part,
                fontsize=size,
                fontweight=weight,
                family=FONT,
                parse_math=False,
                gid="report-text",
            )

    def heading(self, text: str) -> None:
        """A section heading, kept with at least three lines after it."""
        self.room(HEADING * LINE + BODY * LINE * 3 + 8)
        self.y -= 8
        self.text(text, HEADING, weight="bold")

    def row(self, cells, columns, *, weight: str = "normal") -> None:
        """One table row: each cell cut to its column (a cell ends where the next begins)."""
        self.room(BODY * LINE)
        self.y -= BODY * LINE
        edges = [*columns[1:], PAGE_W - MARGIN]
        for cell, x, end in zip(cells, columns, edges, strict=False):
            chars = _fits(BODY, end - x - 6)
            self.fig.text(
                x / PAGE_W,
                self.y / PAGE_H,
                textwrap.shorten(printable(cell), chars, placeholder="…"),
                fontsize=BODY,
                fontweight=weight,
                family=FONT,
                parse_math=False,
                gid="report-text",
            )

    def footers(self) -> None:
        """ "<title> · page N of M" at the foot of every page."""
        count = len(self.figures)
        for number, fig in enumerate(self.figures, start=1):
            fig.text(
                MARGIN / PAGE_W,
                (MARGIN - BODY * 1.5) / PAGE_H,
                printable(f"{self.title} · page {number} of {count}"),
                fontsize=BODY,
                family=FONT,
                color="#444444",
                parse_math=False,
                gid="report-footer",
            )


def _chart(pages: Pages, data: ProgressData) -> None:
    """The progress chart across the page, its legend above it, the bands named on its
    right."""
    layout = CHART
    legend = 2 * BODY * LINE + 10
    height = layout.height + legend
    pages.room(height + BODY * 3)
    top = pages.y - legend
    bottom = top - layout.height + BODY * 2.2  # room for the dates
    left = MARGIN + BODY * 4.4
    right = PAGE_W - MARGIN - (BODY * 6.6 + 8)
    dose_h = (top - bottom) * 0.45
    gap = 10
    dose_ax = pages.fig.add_axes(
        (left / PAGE_W, (top - dose_h) / PAGE_H, (right - left) / PAGE_W, dose_h / PAGE_H)
    )
    score_ax = pages.fig.add_axes(
        (
            left / PAGE_W,
            bottom / PAGE_H,
            (right - left) / PAGE_W,
            (top - dose_h - gap - bottom) / PAGE_H,
        ),
        sharex=dose_ax,
    )
    style_axes(dose_ax, score_ax, layout.text)
    dose_ax.tick_params(labelbottom=False)
    draw_progress(dose_ax, score_ax, data, layout)
    pages.y = bottom - BODY * 2.4


def _plans(pages: Pages, data: ReportData) -> None:
    if not data.plans:
        pages.text("No taper plan yet.", weight="bold")
    for plan in data.plans:
        pages.room(BODY * LINE * 4)
        pages.y -= 4
        pages.text(plan.title, HEADING, weight="bold")
        pages.text(plan.in_force, weight="bold")
        if plan.hold:
            pages.text(plan.hold)
        if plan.steps:
            pages.text("Steps now and to come, exactly as typed:")
            for step in plan.steps:
                pages.text(step, x=MARGIN + 12, indent="   ")
        else:
            pages.text("No steps to come.")
        if plan.earlier:
            pages.text("Earlier steps:")
            for step in plan.earlier:
                pages.text(step, x=MARGIN + 12, indent="   ")


def _symptoms(pages: Pages, table: SymptomTable) -> None:
    pages.heading("Symptoms item by item (0 not at all to 4 very much so)")
    latest = (
        f"; Latest: the answer on {table.latest_day.day} {table.latest_day:%b}"
        if table.latest_day
        else ""
    )
    pages.text(f"Mean of the logged days in each period (– no log){latest}.")
    label_w = 120
    count = len(table.periods) + 1
    step = (PAGE_W - 2 * MARGIN - label_w) / count
    columns = [MARGIN] + [MARGIN + label_w + i * step for i in range(count)]
    pages.row(("Item", *table.periods, "Latest"), columns, weight="bold")
    for label, means, last in table.rows:
        cells = [f"{m:.1f}" if m is not None else "–" for m in means]
        pages.row((label, *cells, "–" if last is None else str(last)), columns)


def _pages(data: ReportData) -> Pages:
    pages = Pages(f"Taper visit report: {data.patient}")
    pages.text(pages.title, TITLE, weight="bold")
    if data.period:
        pages.text(f"Period: {period_words(*data.period)}. Generated {data.generated.isoformat()}.")
    else:
        pages.text(f"Generated {data.generated.isoformat()}.")
    pages.text("Doses are shown exactly as the clinician entered them; Taper computes none.")
    if data.contact:
        pages.text(f"Clinic contact: {data.contact}", weight="bold")
    _plans(pages, data)
    pages.heading("Progress")
    _chart(pages, data.progress)
    pages.text(textwrap.shorten(summary(data.progress), 900, placeholder=" …"))
    if data.period:
        pages.heading("Missed days")
        days = (data.period[1] - data.period[0]).days + 1
        if data.today_open:
            days -= 1  # today, not over yet and not logged: not counted either way
        count = len(data.missed)
        text = f"{count} of {days} days in the period with no log"
        pages.text(text + (f": {missed_words(data.missed)}." if count else "."))
    if data.symptoms is not None:
        _symptoms(pages, data.symptoms)
    pages.heading("The patient's notes, as typed")
    if not data.notes:
        pages.text("No notes in this period.")
    for day, note in data.notes:
        text = note if len(note) <= NOTE_LIMIT else note[:NOTE_LIMIT] + " … (cut here)"
        pages.room(BODY * LINE * 2)
        pages.text(f"{day.day} {day:%b %Y}", weight="bold")
        pages.text(text, x=MARGIN + 12)
    pages.heading("Last 14 logs")
    header = ("Day", f"Score (0–{CIWA_B.patient_max})", "Red flags", "Taken / scheduled", "Sleep")
    columns = (MARGIN, MARGIN + 80, MARGIN + 165, MARGIN + 290, MARGIN + 460)
    pages.row(header, columns, weight="bold")
    for row in data.logs[:14]:
        pages.row(row, columns)
    if not data.logs:
        pages.text("No logs.")
    pages.heading("Open and recent alerts")
    for line in data.alerts or ("None.",):
        pages.text(line, indent="   ")
    pages.heading("Plan revisions, newest first")
    for line in data.revisions or ("None.",):
        pages.text(line, indent="   ")
    pages.footers()
    return pages


def report_figures(data: ReportData) -> list[Figure]:
    """The report's pages as figures (for the PDF, or drawn to PNG to look at)."""
    return _pages(data).figures


def visit_report(data: ReportData) -> bytes:
    """The visit report as PDF bytes: same data, same bytes (no creation date)."""
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"CreationDate": None, "Title": "Taper visit report"}) as pdf:
        for fig in report_figures(data):
            pdf.savefig(fig)
    return buffer.getvalue()


def report_page_png(data: ReportData, page: int = 0, dpi: int = 80) -> bytes:
    """One page of the report as PNG (to look at it without a PDF reader)."""
    fig = report_figures(data)[page]
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
