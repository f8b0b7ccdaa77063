"""Progress charts, the symptom heatmap and the visit report, for patients and clinicians."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user

from taper import access
from taper.charts import cache, render
from taper.charts.data import heatmap_summary, medication_name, summary
from taper.charts.report import visit_report
from taper.extensions import db
from taper.models import Role
from taper.services import audit, progress

bp = Blueprint("progress", __name__)
STATUS_WORDS = {
    "active": "",
    "held": "on hold",
    "paused": "paused",
    "last": "last step",
    "stopped": "stopped",
}


@bp.before_request
def _patients_and_clinicians_only():
    if current_user.is_authenticated:
        access.require_role(Role.PATIENT, Role.CLINICIAN)


def _range() -> str:
    value = request.args.get("range", "30")
    return value if value in progress.RANGES else "30"


def _image(key: str, render_fn, fmt: str) -> Response:
    if current_app.config["CHART_CACHE"]:
        data = cache.charts.get_or_render(key, render_fn)
    else:
        data = render_fn()
    return Response(data, mimetype=render.FORMATS[fmt])


@bp.get("/charts/<int:patient_id>/progress.<fmt>")
def progress_image(patient_id: int, fmt: str):
    """The progress chart (PNG or SVG), cached by a hash of the data it shows."""
    patient = access.patient_or_404(current_user, patient_id)
    if fmt not in render.FORMATS:
        abort(404)
    data = progress.progress_data(patient, _range(), simple=current_user.role is Role.PATIENT)
    audit.record(current_user, "chart.view", "user", patient.id, patient_id=patient.id)
    db.session.commit()
    return _image(data.cache_key(fmt), lambda: render.progress_chart(data, fmt), fmt)


@bp.get("/charts/<int:patient_id>/symptoms.<fmt>")
def heatmap_image(patient_id: int, fmt: str):
    """Symptoms by day with sleep (clinicians)."""
    access.require_role(Role.CLINICIAN)
    patient = access.patient_or_404(current_user, patient_id)
    if fmt not in render.FORMATS:
        abort(404)
    data = progress.heatmap_data(patient, _range())
    audit.record(current_user, "chart.view", "user", patient.id, patient_id=patient.id)
    db.session.commit()
    return _image(data.cache_key(fmt), lambda: render.heatmap_chart(data, fmt), fmt)


@bp.get("/progress")
def my_progress():
    """The patient's own progress: the chart, its summary and the numbers."""
    access.require_role(Role.PATIENT)
    return _progress_page(current_user._get_current_object())


@bp.get("/clinician/patients/<int:patient_id>/progress")
def patient_progress(patient_id: int):
    """A patient's progress for their clinician, with the symptom heatmap."""
    access.require_role(Role.CLINICIAN)
    return _progress_page(access.patient_or_404(current_user, patient_id))


def _progress_page(patient):
    range_name = _range()
    own = current_user.role is Role.PATIENT
    data = progress.progress_data(patient, range_name, simple=own)
    heat = None if own else progress.heatmap_data(patient, range_name)
    audit.record(current_user, "progress.view", "user", patient.id, patient_id=patient.id)
    db.session.commit()
    return render_template(
        "progress.html",
        patient=patient,
        data=data,
        heat=heat,
        heat_alt=heatmap_summary(heat) if heat else "",
        alt=summary(data),
        range_name=range_name,
        own=own,
        flag_days=set(data.red_flag_days),
        taken=[dict(series.taken) for series in data.plans],
        scores=dict(data.scores),
        days=sorted(
            {d for d, _ in data.scores}
            | {d for series in data.plans for d, _ in series.taken}
            | set(data.red_flag_days),
            reverse=True,
        ),
        names=[medication_name(series) for series in data.plans],
        status_words=STATUS_WORDS,
    )


@bp.get("/reports/<int:patient_id>.pdf")
def report_pdf(patient_id: int):
    """A one-page PDF for a clinic visit or another doctor; patients may download their own."""
    patient = access.patient_or_404(current_user, patient_id)
    report = progress.report_data(patient)
    audit.record(current_user, "report.download", "user", patient.id, patient_id=patient.id)
    db.session.commit()
    return Response(
        visit_report(report),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="taper-report-{patient.id}.pdf"'},
    )
