"""Command-line tools: ``flask --app taper users|care-team|seed-demo ...``."""

from __future__ import annotations

import os
from collections.abc import Callable

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import text

from taper.extensions import db
from taper.models import Role, User, find_user_by_email
from taper.services import ServiceError, accounts

users_cli = AppGroup("users", help="Manage accounts.")
care_team_cli = AppGroup("care-team", help="Manage care teams.")


def _fail(message: str) -> None:
    db.session.rollback()
    raise click.ClickException(message)


def _on_account(email: str, action: Callable[[None, User], object], done: str) -> None:
    """Run a service ``action`` on the account with this e-mail (no account, or a refusal: a
    ClickException), commit, and print ``done`` with the account's e-mail in it."""
    user = find_user_by_email(email)
    if user is None:
        _fail(f"No account with email {email}")
    try:
        action(None, user)
    except ServiceError as error:
        _fail(error.message)
    db.session.commit()
    click.echo(done.format(email=user.email))


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", default=None, help="Full name (defaults to the part before @).")
@click.option("--timezone", default=None, help="IANA time zone, e.g. Europe/London.")
def create_user_command(email: str, role: str, name: str | None, timezone: str | None) -> None:
    """Create an account; the password comes from TAPER_PASSWORD or a prompt."""
    password = os.environ.get("TAPER_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    try:
        user = accounts.create_user(
            None,
            email=email,
            name=name or email.split("@")[0],
            role=Role(role),
            password=password,
            timezone=timezone,
        )
    except ServiceError as error:
        _fail(error.message)
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email}")


@users_cli.command("deactivate")
@click.argument("email")
def deactivate_user_command(email: str) -> None:
    """Switch an account off and end its sessions (never the last active admin); warns of the
    patients it leaves with no active clinician."""
    uncovered: list[User] = []
    _on_account(
        email,
        lambda actor, user: uncovered.extend(accounts.deactivate_account(actor, user)),
        "Deactivated {email}",
    )
    for patient in uncovered:
        click.echo(f"Warning: {patient.email} now has no active clinician.", err=True)


@users_cli.command("reactivate")
@click.argument("email")
def reactivate_user_command(email: str) -> None:
    """Switch a deactivated account on again (its password stays; old sessions stay ended)."""
    _on_account(email, accounts.reactivate_user, "Reactivated {email}")


@users_cli.command("send-link")
@click.argument("email")
def send_link_command(email: str) -> None:
    """E-mail the account's owner a set-password link (through the outbox; never printed)."""
    _on_account(
        email,
        accounts.email_set_password_link,
        "Queued a set-password link for {email}; `flask notify send` sends it.",
    )


def _both(clinician_email: str, patient_email: str) -> tuple[User, User]:
    """The two accounts a care-team command names (a ClickException when one is missing)."""
    clinician = find_user_by_email(clinician_email)
    patient = find_user_by_email(patient_email)
    if clinician is None or patient is None:
        _fail("Both accounts must exist.")
    return clinician, patient


@care_team_cli.command("add")
@click.argument("clinician_email")
@click.argument("patient_email")
def care_team_add_command(clinician_email: str, patient_email: str) -> None:
    """Put a patient on a clinician's care team."""
    clinician, patient = _both(clinician_email, patient_email)
    try:
        accounts.add_to_care_team(None, clinician, patient)
    except ServiceError as error:
        _fail(error.message)
    db.session.commit()
    click.echo(f"{patient.email} is on {clinician.email}'s care team")


@care_team_cli.command("remove")
@click.argument("clinician_email")
@click.argument("patient_email")
def care_team_remove_command(clinician_email: str, patient_email: str) -> None:
    """Take a clinician off a patient's care team: they no longer see the patient's record."""
    clinician, patient = _both(clinician_email, patient_email)
    try:
        covered = accounts.leave_care_team(None, clinician, patient)
    except ServiceError as error:
        _fail(error.message)
    click.echo(f"{patient.email} is not on {clinician.email}'s care team")
    if not covered:
        click.echo(f"Warning: {patient.email} now has no active clinician.", err=True)


@click.command("seed-demo")
@with_appcontext  # AppGroup commands get this for free; a plain click command does not
def seed_demo_command() -> None:
    """Load demo accounts and data once (safe to run again) and print the logins."""
    from taper.seed.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

    created = seed_demo()
    db.session.commit()
    click.echo("Demo data " + ("loaded." if created else "already present."))
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for demo in DEMO_USERS:
        click.echo(f"  {demo['role'].value:<10} {demo['email']}")


alerts_cli = AppGroup("alerts", help="Alert rules that run on a schedule.")
notify_cli = AppGroup("notify", help="E-mail notifications.")
reminders_cli = AppGroup("reminders", help="The patients' daily reminder e-mails.")


@alerts_cli.command("scan")
def alerts_scan_command() -> None:
    """Raise missed-log and plan-end review alerts; safe to run from cron every few minutes
    and to run twice."""
    from datetime import UTC, datetime

    from taper.services.alerts import scan

    raised = scan(datetime.now(UTC))
    db.session.commit()
    click.echo(f"Missed-log alerts raised: {raised.missed_logs}")
    click.echo(f"Plan-end review alerts raised: {raised.plan_end}")
    if raised.failed_batches:
        raise click.ClickException(
            f"{raised.failed_batches} batch(es) failed (see the log); run the scan again"
        )


@reminders_cli.command("send")
def reminders_send_command() -> None:
    """Queue the daily reminder e-mails that are due now (`notify send` sends them); safe to
    run from cron every few minutes and to run twice: one e-mail per patient and day."""
    from datetime import UTC, datetime

    from taper.services.reminders import send_due

    try:
        queued = send_due(datetime.now(UTC))
    except RuntimeError as error:  # some patients failed; the others were queued
        raise click.ClickException(str(error)) from None
    click.echo(f"Reminders queued: {queued}")


@notify_cli.command("send")
def notify_send_command() -> None:
    """Send queued e-mails; failures are retried later with backoff."""
    from taper.services.notify import send_pending

    sent, failed = send_pending()
    click.echo(f"Sent {sent}, failed {failed} (will retry)")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run what is queued (and due now), then stop.")
@click.option("--no-schedule", is_flag=True, help="Only work the queue; another process enqueues.")
@with_appcontext
def worker_command(burst: bool, no_schedule: bool) -> None:
    """Run background jobs from Redis (REDIS_URL): the outbox, the alert scan, reminders,
    each on its interval, with retries; failures end on the admin's Failed jobs page."""
    from flask import current_app

    from taper.jobs import worker

    app = current_app._get_current_object()
    if not app.config["REDIS_URL"]:
        raise click.ClickException(
            "REDIS_URL is not set: without Redis the jobs run inside the app (JOBS_EMBEDDED)."
        )
    worker.run(app, burst=burst, schedule=not no_schedule)


redflags_cli = AppGroup("redflags", help="Red flags in what patients write.")


@redflags_cli.command("screen")
@click.option(
    "--rules",
    type=click.Path(dir_okay=False),
    default=None,
    help="A clinic's extra phrase file (default: the RED_FLAG_PHRASES_FILE setting).",
)
@click.option("--details", is_flag=True, help="Also show the words matched and if in the past.")
@click.argument("notes", type=click.File("r", encoding="utf-8"), default="-")
def redflags_screen_command(rules: str | None, details: bool, notes) -> None:
    """Screen notes, one a line, from standard input (or the file NOTES); print for each the
    red-flag keys found (comma-separated) or `none`."""
    from flask import current_app

    from taper.domain.note_screen import RuleFileError, screen

    extra = rules or current_app.config.get("RED_FLAG_PHRASES_FILE") or None
    for line in notes:
        try:
            hits = screen(line.rstrip("\r\n"), extra)
        except RuleFileError as error:
            raise click.ClickException(str(error)) from error
        if details:
            found = [f'{h.key} "{h.phrase}"' + (" (past)" if h.past else "") for h in hits]
        else:
            found = [hit.key for hit in hits]
        click.echo((", " if details else ",").join(found) or "none")


@click.command("seed-scale")
@click.option("--clinicians", default=10, show_default=True)
@click.option("--patients", default=1000, show_default=True)
@click.option("--days", default=365, show_default=True)
@click.option("--seed", default=7, show_default=True)
@with_appcontext
def seed_scale_command(clinicians: int, patients: int, days: int, seed: int) -> None:
    """Bulk-load realistic data for benchmarks (password from TAPER_PASSWORD or the demo one)."""
    import time

    from taper.seed.demo import DEMO_PASSWORD
    from taper.seed.scale import seed_scale

    started = time.perf_counter()
    result = seed_scale(
        clinicians, patients, days, os.environ.get("TAPER_PASSWORD", DEMO_PASSWORD), seed
    )
    db.session.commit()
    # Fresh statistics, as autovacuum would gather after a bulk load, so the planner
    # picks the indexes (PostgreSQL and SQLite both know ANALYZE).
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    click.echo(f"Seeded {result} in {time.perf_counter() - started:.1f} s")


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(users_cli)
    app.cli.add_command(care_team_cli)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(alerts_cli)
    app.cli.add_command(reminders_cli)
    app.cli.add_command(notify_cli)
    app.cli.add_command(seed_scale_command)
    app.cli.add_command(redflags_cli)
    app.cli.add_command(worker_command)
    from taper.db_roles import register as register_db_roles

    register_db_roles(app)  # `flask db roles`
    from taper.auth.twostep import twostep_cli

    app.cli.add_command(twostep_cli)
