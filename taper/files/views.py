"""Routes for chart images and the visit report: load the patient, then one service call."""

from __future__ import annotations

from flask import Response, abort, request
from flask_login import current_user

from taper import access
from taper.files import bp
from taper.models import Role
from taper.patient.records import refuse_head
from taper.services import records, reports


@bp.app_template_global("chart_layouts")
def chart_layouts():
    """The sizes chart images are drawn at, for the pages that show them (``<picture>``)."""
    return reports.LAYOUTS


def _image(patient_id: int, fmt: str, draw) -> Response:
    refuse_head()  # a view is audited: only a GET, which sends the image, is one
    patient = access.patient_or_404(current_user, patient_id)
    if fmt not in reports.FORMATS:
        abort(404)
    chart_range = records.range_name(request.args.get("range", "30"))
    # The size a page shows it at (narrow, medium, wide) and 2 for a sharp screen's PNG;
    # anything else falls back to the viewer's default size at 1x.
    size = request.args.get("size")
    scale = 2 if request.args.get("scale") == "2" else 1
    data = draw(current_user, patient, chart_range, fmt, size, scale)
    return Response(data, mimetype=reports.FORMATS[fmt])


@bp.get("/charts/<int:patient_id>/progress.<fmt>")
def progress_image(patient_id: int, fmt: str):
    """The progress chart (PNG or SVG), cached by a hash of the data it shows."""
    return _image(patient_id, fmt, reports.progress_image)


@bp.get("/charts/<int:patient_id>/symptoms.<fmt>")
def symptoms_image(patient_id: int, fmt: str):
    """Symptoms by day with sleep (clinicians)."""
    access.require_role(Role.CLINICIAN)
    return _image(patient_id, fmt, reports.symptoms_image)


@bp.get("/reports/<int:patient_id>.pdf")
def report_pdf(patient_id: int):
    """A one-page PDF for a clinic visit or another doctor; patients may download their own."""
    refuse_head()  # a download is audited: only a GET, which sends the file, is one
    patient = access.patient_or_404(current_user, patient_id)
    return Response(
        reports.visit_report_pdf(current_user, patient),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="taper-report-{patient.id}.pdf"'},
    )
