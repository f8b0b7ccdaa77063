"""Figures for progress, symptom heatmap and sleep: data in, PNG/SVG bytes out.

Speed: margins are set by hand (tight_layout doubles the time), dates are plain day numbers
with a few hand-made tick labels, and each figure has only the artists it needs.
"""

from __future__ import annotations

import io
import threading
from datetime import date, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from taper.charts.data import HeatmapData, ProgressData

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
BAND_SHADES = ("#f2f2f2", "#e3e3e3", "#d0d0d0", "#bdbdbd")
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
SCORE_MAX = 68  # CIWA-B patient-rated subtotal
BANDS = ((1, 20), (21, 40), (41, 60), (61, 68))
DPI = 80
PATIENT_SIZE = (5, 5.6)  # inches at DPI: 400 x 448 px
CLINICIAN_SIZE = (8, 5)  # 640 x 400 px


def _x(day: date) -> int:
    return day.toordinal()


def _ticks(ax, start: date, end: date, count: int) -> None:
    span = max((end - start).days, 1)
    step = max(span // count, 1)
    days = [start + timedelta(days=i) for i in range(0, span + 1, step)]
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
    """Legends from stand-in handles, drawn once: a reused figure does not rebuild them."""
    dose_ax.legend(
        handles=[
            Line2D([], [], color=BLUE, linewidth=2.5, label="Scheduled dose"),
            Line2D([], [], color=GREEN, marker="o", linestyle="none", label="Dose taken"),
        ],
        loc="upper right",
        fontsize=fontsize - 1,
        frameon=False,
        ncols=2,
    )
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
    score_ax.set_yticks([0, 20, 40, 60])
    score_ax.set_ylabel(f"Symptom score (0–{SCORE_MAX})", fontsize=fontsize)
    for (low, high), shade in zip(BANDS, BAND_SHADES, strict=True):
        top = min(high, SCORE_MAX) + 0.5
        score_ax.add_artist(
            Rectangle(
                (0, low - 0.5),
                1,
                top - low + 0.5,
                color=shade,
                transform=score_ax.get_yaxis_transform(),
                linewidth=0,
                zorder=0,
            )
        )


def draw_progress(dose_ax, score_ax, data: ProgressData) -> list:
    """Add the data's artists to the axes; return them so a reused figure can drop them."""
    fontsize = 13 if data.simple else 10
    added: list = []
    if data.steps:
        # The schedule exactly as typed: a step line from each step's date, ending on the
        # last step's date (no projection past it).
        xs = [_x(day) for day, _ in data.steps]
        ys = [float(dose) for _, dose in data.steps]
        added += dose_ax.step(
            xs, ys, where="post", color=BLUE, linewidth=2.5, label="Scheduled dose", gid="schedule"
        )
        for ax in (dose_ax, score_ax):  # one collection per axes, not one line per change
            added.append(
                ax.vlines(
                    xs[1:],
                    0,
                    1,
                    transform=ax.get_xaxis_transform(),
                    colors=GREY,
                    linewidth=0.8,
                    linestyles=":",
                    gid="dose-change",
                )
            )
    for start, end in data.holds:
        for ax in (dose_ax, score_ax):  # add_artist: no data-limit bookkeeping (faster)
            added.append(
                ax.add_artist(
                    Rectangle(
                        (_x(start) - 0.5, 0),
                        _x(end) - _x(start) + 1,
                        1,
                        transform=ax.get_xaxis_transform(),
                        color=ORANGE,
                        alpha=0.18,
                        linewidth=0,
                        gid="hold",
                    )
                )
            )
    if data.taken:
        added += dose_ax.plot(
            [_x(d) for d, _ in data.taken],
            [float(v) for _, v in data.taken],
            linestyle="none",
            marker="o",
            markersize=5 if data.simple else 3.5,
            color=GREEN,
            label="Dose taken",
            gid="taken",
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
    top = max([float(d) for _, d in data.steps] + [float(v) for _, v in data.taken] + [1])
    dose_ax.set_ylim(0, top * 1.25)
    dose_ax.set_yticks(_nice_ticks(top))
    dose_ax.set_ylabel(f"Daily dose ({data.unit})", fontsize=fontsize)
    score_ax.set_xlim(_x(data.start) - 0.5, _x(data.end) + 0.5)
    _ticks(score_ax, data.start, data.end, 4 if data.simple else 7)
    return added


def progress_figure(data: ProgressData) -> Figure:
    """A new figure: dose (schedule as typed, doses taken) above the symptom score."""
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
