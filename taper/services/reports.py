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


def _image(key: str, draw: Callable[[], bytes]) -> bytes:
    """The drawn image, from the process's chart cache when it is switched on."""
    if current_app.config["CHART_CACHE"]:
        return cache.charts.get_or_render(key, draw)
    return draw()


def progress_image(viewer: User, patient: User, range_name: str, fmt: str) -> bytes:
    """The progress chart (PNG or SVG), cached by a hash of the data it shows."""
    data = progress.progress_data(patient, range_name, simple=viewer.role is Role.PATIENT)
    viewed(viewer, "chart.view", patient)
    return _image(data.cache_key(fmt), lambda: render.progress_chart(data, fmt))


def symptoms_image(viewer: User, patient: User, range_name: str, fmt: str) -> bytes:
    """The symptom heatmap with sleep (PNG or SVG), cached like the progress chart."""
    data = progress.heatmap_data(patient, range_name)
    viewed(viewer, "chart.view", patient)
    return _image(data.cache_key(fmt), lambda: render.heatmap_chart(data, fmt))


def visit_report_pdf(viewer: User, patient: User) -> bytes:
    """The one-page visit report as PDF bytes, its download audited."""
    report = progress.report_data(patient)
    viewed(viewer, "report.download", patient)
    return visit_report(report)
