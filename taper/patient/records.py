"""The patient's records: their progress, log history, one day's versions, and the downloads
of their record (FHIR and CSV). Thin routes over the builders in ``services/records.py``,
shared with the clinician's."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Response, abort, render_template, request, stream_with_context, url_for
from flask_login import current_user

from taper.patient import bp
from taper.services import records

log = logging.getLogger(__name__)


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


def refuse_head() -> None:
    """A HEAD request would be audited as a download without sending the file: 405."""
    if request.method == "HEAD":
        abort(405, valid_methods=["GET"])


def _logged(pieces: Iterator[bytes], filename: str) -> Iterator[bytes]:
    """The pieces of a streamed file; a failure part-way (the status already sent) is logged
    with the request's id, since the file the browser keeps is cut short."""
    try:
        yield from pieces
    except Exception:
        log.exception("The download %s stopped part-way; the file sent is incomplete", filename)
        raise


def send(download: records.Download | None) -> Response:
    """A download as an attachment (streamed when it comes in pieces), or 404 for none. Its
    audit row is already committed; the app's headers keep it out of every cache."""
    if download is None:
        abort(404)
    body = download.body
    return Response(
        body if isinstance(body, str) else stream_with_context(_logged(body, download.filename)),
        content_type=download.mimetype,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )


@bp.get("/export/<name>")
def export(name: str):
    """Download one file of your record: for another clinic's system (FHIR) or a spreadsheet."""
    refuse_head()
    return send(records.export_file(_me(), _me(), name))


@bp.get("/export.csv")
def export_csv():
    """Download everything you have logged, as a spreadsheet file (the same as logs.csv)."""
    refuse_head()
    return send(records.export_file(_me(), _me(), "logs.csv"))
