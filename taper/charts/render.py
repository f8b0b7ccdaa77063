"""Figures for progress, symptom heatmap and sleep: data in, PNG/SVG bytes out.

Each chart is drawn at the size a page shows it (a layout: narrow for phones, medium, wide for
desktops), one point per CSS pixel, so its text is as large on screen as it is here; PNGs come
at 1x and 2x (sharp screens). Speed: margins are set by hand (tight_layout doubles the time),
dates are plain day numbers with a few hand-made tick labels, and each figure has only the
artists it needs.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from taper.charts.data import HeatmapData, PlanSeries, ProgressData, medication_name
from taper.domain.instrument import CIWA_B
from taper.domain.timeline import shift

# Okabe-Ito, safe for the common colour-vision deficiencies.
BLUE, ORANGE, SKY, GREEN, VERMILLION, PURPLE, GREY = (
    "#0072B2",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#999999",
)
BLACK = "#000000"
# One colour and marker per plan: a crossover's drugs differ in colour and in shape.
PLAN_COLOURS = (BLUE, GREEN, BLACK, PURPLE, SKY)
PLAN_MARKERS = ("o", "s", "D", "v", "P")
BAND_SHADES = ("#f2f2f2", "#e3e3e3", "#d0d0d0", "#bdbdbd")
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
SCORE_MAX = CIWA_B.patient_max  # the patient-rated subtotal
BANDS = tuple(band for band in CIWA_B.patient_bands if band.low > 0)  # "none" is not shaded
PX = 72  # dots per inch at 1x: one point is one CSS pixel, so font sizes are CSS px
SCALES = (1, 2)  # 1x, and 2x for sharp screens


@dataclass(frozen=True)
class Layout:
    """A chart's size in CSS pixels as a page shows it, and its text sizes in CSS px.

    ``text`` is the smallest text drawn (ticks, legends, labels on the chart); a page never
    shows a layout wider than it is drawn, so text is never smaller on screen unless the
    screen is narrower than the layout (a 320 px phone shows ``narrow`` at 288 px)."""

    name: str
    width: int
    height: int
    text: float
    heat_height: int
    ticks: int  # date labels along the bottom

    @property
    def label(self) -> float:
        """Axis titles: a little larger than the smallest text."""
        return self.text + 1

    def inches(self, height: int | None = None) -> tuple[float, float]:
        """The figure size in inches at PX dots per inch."""
        return self.width / PX, (height or self.height) / PX

    def margin(self, pixels: float, of: int | None = None) -> float:
        """``pixels`` as a fraction of the width (or of ``of`` pixels)."""
        return pixels / (of or self.width)


LAYOUTS = {
    # A 360 px phone shows 328 px (the page's 16 px padding each side); 14 px text stays
    # 12 px or more down to 288 px (a 320 px phone).
    "narrow": Layout("narrow", 328, 440, 14, 560, 3),
    "medium": Layout("medium", 640, 420, 13, 560, 5),
    "wide": Layout("wide", 920, 460, 13, 600, 7),
}
DEFAULT_LAYOUT = {True: "narrow", False: "wide"}  # by ``simple``: the patient's, the clinician's


def _x(day: date) -> int:
    return day.toordinal()


def layout_for(name: str | None, simple: bool) -> Layout:
    """The named layout, else the default for the viewer (narrow for the patient)."""
    return LAYOUTS.get(name or "", LAYOUTS[DEFAULT_LAYOUT[simple]])


def _ticks(ax, start: date, end: date, count: int) -> None:
    """About ``count`` date labels from ``start``, the last one always ``end`` (aligned to the
    right so it is never cut off; the first to the left for the same reason)."""
    span = max((end - start).days, 0)
    step = max(span // max(count - 1, 1), 1)
    days = [shift(start, i) for i in range(0, span + 1, step)]
    if days[-1] != end:
        if len(days) > 1 and (end - days[-1]).days < step * 0.6:
            days.pop()  # too close to the end's label: they would overlap
        days.append(end)
    ax.set_xticks([_x(d) for d in days], [f"{d.day} {d:%b}" for d in days])
    labels = ax.get_xticklabels()
    if len(labels) > 1:
        labels[0].set_horizontalalignment("left")
        labels[-1].set_horizontalalignment("right")
    elif labels:
        labels[0].set_horizontalalignment("center")


def _nice_ticks(top: float) -> list[float]:
    """Three or four round ticks from 0 to about ``top``."""
    for step in (0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 500, 1000):
        if top / step <= 4:
            return [i * step for i in range(int(top / step) + 1)]
    return [0, top]


def _bytes(fig: Figure, fmt: str, scale: int = 1) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}")
    buffer = io.BytesIO()
    if fmt == "png":
        # speed over size; the dpi sets the pixels: 1x or 2x the CSS size
        fig.savefig(buffer, format="png", dpi=PX * scale, pil_kwargs={"compress_level": 2})
    else:
        fig.savefig(buffer, format="svg", dpi=PX, metadata={"Date": None})
    return buffer.getvalue()


def _progress_axes(layout: Layout):
    """The figure, its two axes and the score bands: what every progress chart shares."""
    fig = Figure(figsize=layout.inches(), dpi=PX)
    FigureCanvasAgg(fig)
    dose_ax, score_ax = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.15))
    style_axes(dose_ax, score_ax, layout.text, layout.name == "narrow")
    return fig, dose_ax, score_ax


def _margins(fig: Figure, layout: Layout, legend_rows: int) -> None:
    """Margins in pixels: the y labels on the left, the legend rows on top, dates below."""
    text = layout.text
    fig.subplots_adjust(
        left=layout.margin(text * 4.4),  # as in _legend_x
        right=1 - layout.margin(_right(layout)),
        top=1 - layout.margin(legend_rows * text * 1.5 + 10, layout.height),
        bottom=layout.margin(text * 1.3 + 14, layout.height),
        hspace=0.14 if layout.name == "wide" else 0.18,
    )


def style_axes(dose_ax, score_ax, text: float, narrow: bool = False) -> None:
    """Spines, tick sizes, the score axis and its severity bands, shaded and named."""
    for ax in (dose_ax, score_ax):
        ax.tick_params(labelsize=text)
        ax.spines[["top", "right"]].set_visible(False)
    score_ax.set_ylim(0, SCORE_MAX)
    score_ax.set_yticks([0, *(band.high for band in BANDS[:-1])])
    score_ax.set_ylabel(f"Symptom score (0–{SCORE_MAX})", fontsize=text + 1)
    for band, shade in zip(BANDS, BAND_SHADES, strict=True):
        score_ax.add_artist(
            Rectangle(
                (0, band.low - 0.5),
                1,
                band.high - band.low + 1,
                color=shade,
                transform=score_ax.get_yaxis_transform(),
                linewidth=0,
                zorder=0,
            )
        )
        # The band's name beside it, not only its shade: outside the plot, on the right, so it
        # never hides the latest days. Two lines on a phone-sized chart.
        label = band.label.replace(" ", "\n") if narrow else band.label
        score_ax.text(
            1.02,
            (band.low + band.high) / 2,
            label,
            transform=score_ax.get_yaxis_transform(),
            ha="left",
            va="center",
            fontsize=text,
            linespacing=1.0,
            color="#333333",
            parse_math=False,
            clip_on=False,
            gid=f"band-{band.label}",
        )


def plan_style(index: int) -> tuple[str, str]:
    """Colour and marker of the ``index``-th plan on a chart (colour-blind-safe colours, and a
    marker shape of its own so the drugs differ without colour too)."""
    return PLAN_COLOURS[index % len(PLAN_COLOURS)], PLAN_MARKERS[index % len(PLAN_MARKERS)]


def _label(series: PlanSeries, limit: int = 24) -> str:
    name = medication_name(series)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _schedule(
    dose_ax, series: PlanSeries, colour: str, index: int, fontsize: float, label: bool = True
) -> list:
    """One plan's scheduled line: steps as the timeline has them, drawn to ``line_end``; the
    stretch from ``open_from`` (no typed end: until the clinician reviews it) dashed, and
    labelled "until reviewed" when ``label`` (a phone-sized chart has no room: the label
    would hide the latest days; its caption says what the dashes mean)."""
    added: list = []
    points = series.schedule
    if not points or series.line_end is None:
        return added
    solid_end = series.open_from or series.line_end
    solid = [p for p in points if p.day <= solid_end]
    xs = [_x(p.day) for p in solid] + [_x(solid_end)]
    ys = [float(p.dose) for p in solid] + [float(solid[-1].dose)]
    added += dose_ax.step(
        xs, ys, where="post", color=colour, linewidth=2.5, gid=f"schedule-{index}", zorder=3
    )
    if series.open_from is not None:
        level = float(points[-1].dose)
        added += dose_ax.plot(
            [_x(series.open_from), _x(series.line_end) + 0.5],
            [level, level],
            color=colour,
            linewidth=2.5,
            linestyle=(0, (2, 1.5)),
            gid=f"until-reviewed-{index}",
            zorder=3,
        )
    if series.open_from is not None and label:
        level = float(points[-1].dose)
        added.append(
            dose_ax.text(
                _x(series.line_end) + 0.5,
                level,
                "until reviewed",
                ha="right",
                va="bottom" if index % 2 == 0 else "top",  # two plans at one dose: apart
                color=colour,
                fontsize=fontsize,
                parse_math=False,
                gid=f"until-reviewed-label-{index}",
                # readable over the marks of the doses taken
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1},
                zorder=5,
            )
        )
    return added


def _spans(
    dose_ax, score_ax, series: PlanSeries, index: int, several: bool, fontsize, start: date
) -> list:
    """Holds (orange) and pauses (grey, hatched), shaded on both axes and named on the dose
    axis, so a flat stretch of the line reads as what it was."""
    added: list = []
    for first, end, kind, open_ended in series.holds:
        colour, hatch = (ORANGE, None) if kind == "hold" else (GREY, "//")
        for ax in (dose_ax, score_ax):  # add_artist: no data-limit bookkeeping (faster)
            added.append(
                ax.add_artist(
                    Rectangle(
                        (_x(first) - 0.5, 0),
                        _x(end) - _x(first) + 1,
                        1,
                        transform=ax.get_xaxis_transform(),
                        facecolor=colour,
                        edgecolor=colour if hatch else "none",
                        hatch=hatch,
                        alpha=0.18 if hatch is None else 0.3,
                        linewidth=0,
                        gid=kind,
                    )
                )
            )
        word = "Hold" if kind == "hold" else "Pause"
        if several:
            word += f" ({_label(series, 14)})"
        if open_ended:
            word += ", until reviewed"
        added.append(
            dose_ax.text(
                _x(max(first, start)) - 0.4,
                0.97 - 0.12 * index,
                word,
                transform=dose_ax.get_xaxis_transform(),
                ha="left",
                va="top",
                fontsize=fontsize,
                parse_math=False,
                clip_on=True,
                gid=f"{kind}-label",
            )
        )
    return added


def score_line(scores) -> tuple[list[float], list[float]]:
    """The scores as x and y, with a gap (NaN) between days that are not consecutive: a day
    without a log is a gap, never a line drawn across it."""
    xs: list[float] = []
    ys: list[float] = []
    previous = None
    for day, score in scores:
        if previous is not None and (day - previous).days > 1:
            xs.append(_x(previous) + 0.5)
            ys.append(math.nan)
        xs.append(_x(day))
        ys.append(score)
        previous = day
    return xs, ys


def _legend_x(layout: Layout) -> float:
    """The dose legend's left edge, in axes units: near the figure's left edge, over the
    y labels, so a phone-sized chart has its whole width for the legend."""
    left = layout.margin(layout.text * 4.4)
    return (layout.margin(4) - left) / (1 - left - layout.margin(_right(layout)))


def _right(layout: Layout) -> float:
    """The right margin in pixels: room for the severity bands' names."""
    return layout.text * (5.3 if layout.name == "narrow" else 6.6) + 8


def draw_progress(dose_ax, score_ax, data: ProgressData, layout: Layout) -> tuple[list, int]:
    """Add the data's artists to the axes; return them (so a reused figure can drop them)
    and how many rows the dose legend above the chart takes."""
    text = layout.text
    added: list = []
    several = len(data.plans) > 1
    handles = []
    for index, series in enumerate(data.plans):
        colour, marker = plan_style(index)
        added += _schedule(dose_ax, series, colour, index, text, layout.name != "narrow")
        added += _spans(dose_ax, score_ax, series, index, several, text, data.start)
        # One legend entry per medication: its line with its own mark for a dose taken.
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                linewidth=2.5,
                marker=marker,
                markerfacecolor="white",
                markeredgecolor=colour,
                markeredgewidth=1.5,
                label=_label(series, 12 if layout.name == "narrow" else 24),
            )
        )
        if series.taken:
            added += dose_ax.plot(
                [_x(d) for d, _ in series.taken],
                [float(v) for _, v in series.taken],
                linestyle="none",
                marker=marker,
                markersize=6 if layout.name == "narrow" else 5,
                markerfacecolor="white",
                markeredgecolor=colour,
                markeredgewidth=1.5,
                gid=f"taken-{index}",
                zorder=4,
            )
    if any(series.taken for series in data.plans):
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markerfacecolor="white",
                markeredgecolor=GREY,
                markeredgewidth=1.5,
                label="taken" if layout.name == "narrow" else "dose taken",
            )
        )
    changes = data.changes
    if changes:
        for ax in (dose_ax, score_ax):  # one collection per axes, not one line per change
            added.append(
                ax.vlines(
                    [_x(day) for day in changes],
                    0,
                    1,
                    transform=ax.get_xaxis_transform(),
                    colors=GREY,
                    linewidth=0.8,
                    linestyles=":",
                    gid="dose-change",
                )
            )
    if data.scores:
        xs, ys = score_line(data.scores)
        few = len(data.scores) <= 120 and not data.simple
        added += score_ax.plot(
            xs,
            ys,
            color=VERMILLION,
            linewidth=1.8,
            marker="o",
            markersize=3.5 if few else 2.5,
            label="Symptom score",
            gid="score",
            zorder=2,
        )
        handles.append(
            Line2D(
                [],
                [],
                color=VERMILLION,
                linewidth=1.8,
                marker="o",
                markersize=3.5,
                label="Symptom score",
            )
        )
    if data.red_flag_days:
        added += score_ax.plot(
            [_x(d) for d in data.red_flag_days],
            [SCORE_MAX - 3] * len(data.red_flag_days),
            linestyle="none",
            marker="^",
            markersize=9,
            color=PURPLE,
            label="Red flag",
            gid="red-flags",
            zorder=3,
        )
        # In the legend only when the range has one.
        handles.append(Line2D([], [], color=PURPLE, marker="^", linestyle="none", label="Red flag"))
    rows = 1
    if handles:
        # One legend above the axes (the score's entries too): it never hides a line, a hold
        # label or the latest days. A phone-sized chart has room for two entries a row.
        columns = len(handles) if layout.name != "narrow" else min(len(handles), 2)
        rows = -(-len(handles) // columns)
        legend = dose_ax.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(_legend_x(layout), 1.0),
            borderaxespad=0.2,
            fontsize=text,
            frameon=False,
            ncols=columns,
            handlelength=1.5,
            handletextpad=0.4,
            columnspacing=0.8,
        )
        legend.set_gid("dose-legend")
        added.append(legend)
    doses = [float(p.dose) for s in data.plans for p in s.schedule]
    doses += [float(v) for s in data.plans for _, v in s.taken]
    top = max([*doses, 1])
    dose_ax.set_ylim(0, top * 1.3 + 0.12 * top * max(len(data.plans) - 1, 0))  # hold labels
    dose_ax.set_yticks(_nice_ticks(top))
    unit = data.unit
    dose_ax.set_ylabel(f"Daily dose ({unit})" if unit else "Daily dose", fontsize=text + 1)
    score_ax.set_xlim(_x(data.start) - 0.5, _x(data.end) + 0.5)
    _ticks(score_ax, data.start, data.end, layout.ticks)
    return added, rows


def progress_figure(data: ProgressData, layout: Layout | None = None) -> Figure:
    """A new figure: dose (each plan's schedule, doses taken) above the symptom score."""
    layout = layout or layout_for(None, data.simple)
    fig, dose_ax, score_ax = _progress_axes(layout)
    _, rows = draw_progress(dose_ax, score_ax, data, layout)
    _margins(fig, layout, rows)
    return fig


_reused = threading.local()


def progress_chart(
    data: ProgressData, fmt: str = "png", layout: Layout | None = None, scale: int = 1
) -> bytes:
    """The progress chart as PNG (at ``scale`` times the layout's size) or SVG bytes.

    Each thread keeps one figure per layout and only swaps the data's artists: building
    axes and ticks is most of matplotlib's cost for a chart like this."""
    layout = layout or layout_for(None, data.simple)
    key = f"progress_{layout.name}"
    parts = getattr(_reused, key, None)
    if parts is None:
        parts = _progress_axes(layout)
        setattr(_reused, key, parts)
    fig, dose_ax, score_ax = parts
    added, rows = draw_progress(dose_ax, score_ax, data, layout)
    _margins(fig, layout, rows)
    try:
        return _bytes(fig, fmt, scale)
    finally:
        for artist in added:
            artist.remove()


def heatmap_figure(data: HeatmapData, layout: Layout | None = None) -> Figure:
    """Each symptom by day (darker = worse), dose changes marked, sleep hours below."""
    import numpy as np

    layout = layout or LAYOUTS["wide"]
    text = layout.text
    fig = Figure(figsize=layout.inches(layout.heat_height), dpi=PX)
    FigureCanvasAgg(fig)
    heat_ax, sleep_ax = fig.subplots(2, 1, height_ratios=(4, 1), sharex=True)
    longest = max((len(item) for item in data.items), default=8)
    fig.subplots_adjust(
        left=layout.margin(longest * text * 0.58 + 14),
        right=1 - layout.margin(text * 2.8 + 6),  # the colour bar's numbers and label
        top=1 - layout.margin(8, layout.heat_height),
        bottom=layout.margin(text * 1.3 + 14, layout.heat_height),
        hspace=0.08,
    )
    grid = np.array([[np.nan if v is None else v for v in row] for row in data.values], dtype=float)
    first = _x(data.days[0]) if data.days else 0
    extent = (first - 0.5, first + len(data.days) - 0.5, len(data.items) - 0.5, -0.5)
    image = heat_ax.imshow(
        grid,
        aspect="auto",
        cmap="cividis_r",
        vmin=0,
        vmax=4,
        interpolation="nearest",
        extent=extent,
    )
    heat_ax.set_yticks(range(len(data.items)), data.items, fontsize=text)
    for day in data.dose_changes:
        heat_ax.axvline(_x(day) - 0.5, color=VERMILLION, linewidth=1.5)
    colorbar = fig.colorbar(
        image,
        ax=[heat_ax, sleep_ax],
        fraction=layout.margin(12),
        pad=layout.margin(8),
        aspect=layout.heat_height * 0.55 / 12,  # tall: most of the heatmap's height
    )
    colorbar.set_label("0 not at all … 4 very much so", fontsize=text)
    colorbar.ax.tick_params(labelsize=text)
    if data.sleep:
        sleep_ax.bar(
            [_x(d) for d, _ in data.sleep], [float(h) for _, h in data.sleep], width=0.8, color=SKY
        )
    sleep_ax.set_ylabel("Sleep (h)", fontsize=text)
    sleep_ax.set_ylim(0, 12)
    sleep_ax.set_yticks([0, 6, 12])
    sleep_ax.tick_params(labelsize=text)
    if data.days:
        # Fewer dates than the progress chart: the item names take a third of the width.
        _ticks(sleep_ax, data.days[0], data.days[-1], max(layout.ticks - 1, 2))
    return fig


def heatmap_chart(
    data: HeatmapData, fmt: str = "png", layout: Layout | None = None, scale: int = 1
) -> bytes:
    """The symptom heatmap with sleep as PNG (at ``scale`` times its size) or SVG bytes."""
    return _bytes(heatmap_figure(data, layout), fmt, scale)
