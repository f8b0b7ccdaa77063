"""Figures for progress, symptom heatmap and sleep: data in, PNG/SVG bytes out.

Speed: margins are set by hand (tight_layout doubles the time), dates are plain day numbers
with a few hand-made tick labels, and each figure has only the artists it needs.
"""

from __future__ import annotations

import io
import threading
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
DPI = 80
PATIENT_SIZE = (5, 5.6)  # inches at DPI: 400 x 448 px
CLINICIAN_SIZE = (8, 5)  # 640 x 400 px


def _x(day: date) -> int:
    return day.toordinal()


def _ticks(ax, start: date, end: date, count: int) -> None:
    span = max((end - start).days, 1)
    step = max(span // count, 1)
    days = [shift(start, i) for i in range(0, span + 1, step)]
    ax.set_xticks([_x(d) for d in days], [f"{d.day} {d:%b}" for d in days])


def _nice_ticks(top: float) -> list[float]:
    """Three or four round ticks from 0 to about ``top``."""
    for step in (0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 500, 1000):
        if top / step <= 4:
            return [i * step for i in range(int(top / step) + 1)]
    return [0, top]


def _bytes(fig: Figure, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    buffer = io.BytesIO()
    if fmt == "png":
        FigureCanvasAgg(fig).print_png(buffer, pil_kwargs={"compress_level": 2})  # speed over size
    else:
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _progress_axes(simple: bool):
    """The figure, its two axes and the score bands: what every progress chart shares."""
    # The patient's chart is drawn phone-sized (400 px wide), so on a 360 px screen its text
    # stays about as large as the page's; the clinician's is wider with more detail.
    fig = Figure(figsize=PATIENT_SIZE if simple else CLINICIAN_SIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    dose_ax, score_ax = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.15))
    left = 0.15 if simple else 0.09
    fig.subplots_adjust(left=left, right=0.97, top=0.92, bottom=0.09, hspace=0.14)
    fontsize = 13 if simple else 10
    style_axes(dose_ax, score_ax, fontsize)
    add_legends(dose_ax, score_ax, fontsize)
    return fig, dose_ax, score_ax


def add_legends(dose_ax, score_ax, fontsize: float) -> None:
    """The score legend, from stand-in handles, drawn once: a reused figure keeps it. (The
    dose legend names each plan's medication, so ``draw_progress`` draws it with the data.)"""
    score_ax.legend(
        handles=[
            Line2D([], [], color=VERMILLION, linewidth=1.8, label="Symptom score"),
            Line2D([], [], color=PURPLE, marker="^", linestyle="none", label="Red flag"),
        ],
        loc="upper left",
        fontsize=fontsize - 1,
        frameon=False,
        ncols=2,
    )


def style_axes(dose_ax, score_ax, fontsize: float) -> None:
    """Spines, tick sizes, the score axis and its severity bands."""
    for ax in (dose_ax, score_ax):
        ax.tick_params(labelsize=fontsize - 1)
        ax.spines[["top", "right"]].set_visible(False)
    score_ax.set_ylim(0, SCORE_MAX)
    score_ax.set_yticks([0, *(band.high for band in BANDS[:-1])])
    score_ax.set_ylabel(f"Symptom score (0–{SCORE_MAX})", fontsize=fontsize)
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


def plan_style(index: int) -> tuple[str, str]:
    """Colour and marker of the ``index``-th plan on a chart (colour-blind-safe colours, and a
    marker shape of its own so the drugs differ without colour too)."""
    return PLAN_COLOURS[index % len(PLAN_COLOURS)], PLAN_MARKERS[index % len(PLAN_MARKERS)]


def _label(series: PlanSeries, limit: int = 24) -> str:
    name = medication_name(series)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _schedule(dose_ax, series: PlanSeries, colour: str, index: int, fontsize: float) -> list:
    """One plan's scheduled line: steps as the timeline has them, drawn to ``line_end``; the
    stretch from ``open_from`` (no typed end: until the clinician reviews it) dashed."""
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
        added.append(
            dose_ax.text(
                _x(series.line_end) + 0.5,
                level,
                "until reviewed",
                ha="right",
                va="bottom" if index % 2 == 0 else "top",  # two plans at one dose: apart
                color=colour,
                fontsize=fontsize - 2,
                parse_math=False,
                gid=f"until-reviewed-label-{index}",
            )
        )
    return added


def _spans(dose_ax, score_ax, series: PlanSeries, index: int, several: bool, fontsize) -> list:
    """Holds (orange) and pauses (grey, hatched), shaded on both axes and named on the dose
    axis, so a flat stretch of the line reads as what it was."""
    added: list = []
    for start, end, kind, open_ended in series.holds:
        colour, hatch = (ORANGE, None) if kind == "hold" else (GREY, "//")
        for ax in (dose_ax, score_ax):  # add_artist: no data-limit bookkeeping (faster)
            added.append(
                ax.add_artist(
                    Rectangle(
                        (_x(start) - 0.5, 0),
                        _x(end) - _x(start) + 1,
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
                _x(start) - 0.4,
                0.97 - 0.1 * index,
                word,
                transform=dose_ax.get_xaxis_transform(),
                ha="left",
                va="top",
                fontsize=fontsize - 2,
                parse_math=False,
                clip_on=True,
                gid=f"{kind}-label",
            )
        )
    return added


def draw_progress(dose_ax, score_ax, data: ProgressData) -> list:
    """Add the data's artists to the axes; return them so a reused figure can drop them."""
    fontsize = 13 if data.simple else 10
    added: list = []
    several = len(data.plans) > 1
    handles = []
    for index, series in enumerate(data.plans):
        colour, marker = plan_style(index)
        added += _schedule(dose_ax, series, colour, index, fontsize)
        added += _spans(dose_ax, score_ax, series, index, several, fontsize)
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
                label=_label(series, 12 if data.simple else 24),
            )
        )
        if series.taken:
            added += dose_ax.plot(
                [_x(d) for d, _ in series.taken],
                [float(v) for _, v in series.taken],
                linestyle="none",
                marker=marker,
                markersize=6 if data.simple else 4.5,
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
                label="taken" if data.simple else "dose taken",
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
        few = len(data.scores) <= 120 and not data.simple
        added += score_ax.plot(
            [_x(d) for d, _ in data.scores],
            [s for _, s in data.scores],
            color=VERMILLION,
            linewidth=1.8,
            marker="." if few else None,
            label="Symptom score",
            gid="score",
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
        )
    if handles:
        # Above the axes, in one row: it never hides the lines or the hold labels.
        legend = dose_ax.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(-0.12 if data.simple else 0, 1.0),
            borderaxespad=0.2,
            fontsize=fontsize - (2 if data.simple else 1),
            frameon=False,
            ncols=len(handles),
            handlelength=1.5 if data.simple else 1.8,
            handletextpad=0.4,
            columnspacing=0.8 if data.simple else 1.0,
        )
        legend.set_gid("dose-legend")
        added.append(legend)
    doses = [float(p.dose) for s in data.plans for p in s.schedule]
    doses += [float(v) for s in data.plans for _, v in s.taken]
    top = max([*doses, 1])
    dose_ax.set_ylim(0, top * 1.3)  # room for the hold labels
    dose_ax.set_yticks(_nice_ticks(top))
    unit = data.unit
    dose_ax.set_ylabel(f"Daily dose ({unit})" if unit else "Daily dose", fontsize=fontsize)
    score_ax.set_xlim(_x(data.start) - 0.5, _x(data.end) + 0.5)
    _ticks(score_ax, data.start, data.end, 4 if data.simple else 7)
    return added


def progress_figure(data: ProgressData) -> Figure:
    """A new figure: dose (each plan's schedule, doses taken) above the symptom score."""
    fig, dose_ax, score_ax = _progress_axes(data.simple)
    draw_progress(dose_ax, score_ax, data)
    return fig


_reused = threading.local()


def progress_chart(data: ProgressData, fmt: str = "png") -> bytes:
    """The progress chart as PNG or SVG bytes.

    Each thread keeps one figure per layout and only swaps the data's artists: building
    axes and ticks is most of matplotlib's cost for a chart like this."""
    key = f"progress-{data.simple}"
    parts = getattr(_reused, key, None)
    if parts is None:
        parts = _progress_axes(data.simple)
        setattr(_reused, key, parts)
    fig, dose_ax, score_ax = parts
    added = draw_progress(dose_ax, score_ax, data)
    try:
        return _bytes(fig, fmt)
    finally:
        for artist in added:
            artist.remove()


def heatmap_figure(data: HeatmapData) -> Figure:
    """Each symptom by day (darker = worse), dose changes marked, sleep hours below."""
    import numpy as np

    fig = Figure(figsize=(9, 6), dpi=DPI)
    FigureCanvasAgg(fig)
    heat_ax, sleep_ax = fig.subplots(2, 1, height_ratios=(4, 1), sharex=True)
    fig.subplots_adjust(left=0.2, right=0.9, top=0.96, bottom=0.08, hspace=0.08)
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
    heat_ax.set_yticks(range(len(data.items)), data.items, fontsize=9)
    for day in data.dose_changes:
        heat_ax.axvline(_x(day) - 0.5, color=VERMILLION, linewidth=1.2)
    colorbar = fig.colorbar(image, ax=[heat_ax, sleep_ax], fraction=0.03, pad=0.02)
    colorbar.set_label("0 not at all … 4 very much so", fontsize=9)
    if data.sleep:
        sleep_ax.bar(
            [_x(d) for d, _ in data.sleep], [float(h) for _, h in data.sleep], width=0.8, color=SKY
        )
    sleep_ax.set_ylabel("Sleep (h)", fontsize=9)
    sleep_ax.set_ylim(0, 12)
    if data.days:
        _ticks(sleep_ax, data.days[0], data.days[-1], 7)
    return fig


def heatmap_chart(data: HeatmapData, fmt: str = "png") -> bytes:
    """The symptom heatmap with sleep as PNG or SVG bytes."""
    return _bytes(heatmap_figure(data), fmt)
