"""Progress charts, the symptom heatmap and the visit report, for patients and clinicians."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taper import access
from taper.charts import cache, render
from taper.charts.data import heatmap_summary, summary
from taper.charts.report import ReportData, visit_report
from taper.domain.red_flags import RED_FLAGS
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import Alert, AlertStatus, Role
from taper.services import audit, progress

bp = Blueprint("progress", __name__)
FLAG_LABELS = {f.key: f.label for f in RED_FLAGS}


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
        taken=dict(data.taken),
        scores=dict(data.scores),
    )


@bp.get("/reports/<int:patient_id>.pdf")
def report_pdf(patient_id: int):
    """A one-page PDF for a clinic visit or another doctor; patients may download their own."""
    patient = access.patient_or_404(current_user, patient_id)
    plan = progress.chart_plan(patient)
    data = progress.progress_data(patient, "plan" if plan else "90", simple=False)
    steps, revisions, title = (), (), "No taper plan yet"
    if plan is not None:
        title = f"{plan.medication.capitalize()} ({plan.unit}), {plan.status.value}"
        steps = tuple(
            f"From {s.start_date.isoformat()}: {s.total.normalize():f} {plan.unit} a day"
            + (
                " (" + ", ".join(f"{n} {v.normalize():f}" for n, v in s.split()) + ")"
                if s.split()
                else ""
            )
            + (f". {s.note}" if s.note else "")
            for s in plan.current_revision.steps
        )
        revisions = tuple(
            f"{r.number}. {r.created_at:%Y-%m-%d} {r.author.name}: {r.reason or 'first version'}"
            + (f" (hold from {r.hold_start.isoformat()})" if r.hold_start else "")
            for r in reversed(plan.revisions)
        )
    rows = tuple(
        (
            e.day.isoformat(),
            str(e.patient_total),
            ", ".join(FLAG_LABELS.get(k, k) for k in e.red_flags) or "-",
            f"{e.dose_taken.normalize():f} / {e.dose_scheduled.normalize():f}"
            if e.dose_scheduled is not None and e.dose_taken is not None
            else "-",
            f"{e.sleep_hours} h" if e.sleep_hours is not None else "-",
        )
        for e in progress.recent_logs(patient)
    )
    alerts = db.session.scalars(
        select(Alert)
        .where(Alert.patient_id == patient.id)
        .options(selectinload(Alert.acknowledged_by))
        .order_by(Alert.status != AlertStatus.RESOLVED, Alert.created_at.desc())
        .limit(8)
    ).all()
    alert_lines = tuple(
        f"{a.created_at:%Y-%m-%d} {a.tier} {a.kind.replace('_', ' ')}: {a.reason} "
        f"[{a.status.value}]"
        for a in alerts
    )
    report = ReportData(
        patient=patient.name,
        generated=local_today(datetime.now(UTC), patient.timezone),
        plan_title=title,
        steps=steps,
        revisions=revisions,
        logs=rows,
        alerts=alert_lines,
        progress=replace(data, simple=False),
    )
    audit.record(current_user, "report.download", "user", patient.id, patient_id=patient.id)
    db.session.commit()
    return Response(
        visit_report(report),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="taper-report-{patient.id}.pdf"'},
    )
