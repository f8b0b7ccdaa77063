"""The files both roles download: chart images and the one-page visit report, each audited.

Each use case takes the viewer and a patient the view has already loaded through
``access.patient_or_404``, reads the data, records the audit row, commits, then draws."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app

from taper.charts import cache, render
from taper.charts.report import visit_report
from taper.models import Role, User
from taper.services import progress
from taper.services.records import viewed

FORMATS = render.FORMATS  # image format -> media type
LAYOUTS = render.LAYOUTS  # the sizes a page shows a chart at (narrow, medium, wide)


def _image(key: str, draw: Callable[[], bytes]) -> bytes:
    """The drawn image, from the process's chart cache when it is switched on."""
    if current_app.config["CHART_CACHE"]:
        return cache.charts.get_or_render(key, draw)
    return draw()


def _drawing(fmt: str, size: str | None, scale: int, simple: bool) -> tuple[render.Layout, int]:
    """The layout asked for (else the viewer's default) and the scale (2 for a sharp screen's
    PNG, else 1: an SVG has no pixels)."""
    layout = render.layout_for(size, simple)
    return layout, (scale if fmt == "png" and scale in render.SCALES else 1)


def progress_image(
    viewer: User, patient: User, range_name: str, fmt: str, size: str | None = None, scale: int = 1
) -> bytes:
    """The progress chart (PNG or SVG) at a layout's size, cached by a hash of the data it
    shows and the drawing asked for."""
    simple = viewer.role is Role.PATIENT
    data = progress.progress_data(patient, range_name, simple=simple)
    layout, scale = _drawing(fmt, size, scale, simple)
    viewed(viewer, "chart.view", patient)
    return _image(
        data.cache_key(f"{fmt}|{layout.name}|{scale}"),
        lambda: render.progress_chart(data, fmt, layout, scale),
    )


def symptoms_image(
    viewer: User, patient: User, range_name: str, fmt: str, size: str | None = None, scale: int = 1
) -> bytes:
    """The symptom heatmap with sleep (PNG or SVG), cached like the progress chart."""
    data = progress.heatmap_data(patient, range_name)
    layout, scale = _drawing(fmt, size, scale, simple=False)
    viewed(viewer, "chart.view", patient)
    return _image(
        data.cache_key(f"{fmt}|{layout.name}|{scale}"),
        lambda: render.heatmap_chart(data, fmt, layout, scale),
    )


def visit_report_pdf(viewer: User, patient: User) -> bytes:
    """The one-page visit report as PDF bytes, its download audited."""
    report = progress.report_data(patient, contact=current_app.config.get("CLINIC_CONTACT", ""))
    viewed(viewer, "report.download", patient)
    return visit_report(report)
