"""Admin: background jobs that failed after their retries (dead letters): try again or
remove. Only the job's name, when and the kind of error are shown: never data."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from taper.admin import bp
from taper.jobs import dead_letters


@bp.get("/jobs")
def jobs_page():
    """The failed jobs, newest first; with Redis every worker's, else this process's."""
    app = current_app._get_current_object()
    try:
        failures, unavailable = dead_letters.failed_jobs(app), False
    except dead_letters.Unavailable:
        failures, unavailable = [], True
    return render_template(
        "admin/jobs.html",
        failures=failures,
        shared=dead_letters.shared(app),
        unavailable=unavailable,
    ), (503 if unavailable else 200)


def _act(action: Callable, done: str):
    """Run a dead-letter action on the posted job id and say how it went."""
    try:
        name = action(current_user, current_app._get_current_object(), request.form.get("job", ""))
    except dead_letters.Unavailable:
        flash("The job queue cannot be reached right now. Try again in a minute.")
    else:
        flash(done.format(name=name) if name else "That job is no longer in the list.")
    return redirect(url_for("admin.jobs_page"))


@bp.post("/jobs/retry")
def retry_job():
    """Put a failed job back on the queue (audited)."""
    return _act(dead_letters.try_again, "The {name} job will run again shortly.")


@bp.post("/jobs/remove")
def remove_job():
    """Delete a failed job from the list (audited)."""
    return _act(dead_letters.remove, "The failed {name} job was removed.")
