"""The patient's records: their progress, log history, one day's versions, and the CSV export.
Thin routes over the page builders in ``services/records.py``, shared with the clinician's."""

from __future__ import annotations

from flask import Response, abort, render_template, request, url_for
from flask_login import current_user

from taper.patient import bp
from taper.services import records


def _me():
    return current_user._get_current_object()


def _day_url(day) -> str:
    return url_for("patient.log_day", day=day.isoformat())


@bp.get("/progress")
def progress():
    """The patient's own progress: the chart, its summary and the numbers."""
    chart_range = records.range_name(request.args.get("range", "30"))
    page = records.progress_page(_me(), _me(), chart_range)
    return render_template("progress.html", **page)


@bp.get("/history")
def history():
    """Your logs, newest first, with corrections kept."""
    page = records.history_page(_me(), _me())
    return render_template("logs/history.html", day_url=_day_url, **page)


@bp.get("/history/<day>")
def log_day(day: str):
    """Every saved version of one day's log."""
    page = records.log_day_page(_me(), _me(), day)
    if page is None:
        abort(404)
    return render_template("logs/day.html", **page)


@bp.get("/export.csv")
def export_csv():
    """Download everything you have logged, as a spreadsheet file."""
    return Response(
        records.own_logs_csv(_me()),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="taper-my-logs.csv"'},
    )
