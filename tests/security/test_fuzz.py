"""C1/C2: Hypothesis over every form field and query parameter: never a 500, never a partial write.

All marked ``fuzz`` (``pytest -m fuzz`` runs them alone; ``make test`` includes them). One
table-driven test covers the forms of the route catalogue: each case posts a form that would
be saved, with one field replaced by a nasty value, and checks that the status is one the route
may answer and that a refusal wrote no row in the tables the route writes. Query parameters,
the day in a URL and every id in a URL fall back to a default, or are refused (400/404) without
recording a view. A case's fixtures are shared by all its examples, so what one example saves
the next one sees; where an example needs something fresh (an open alert, an active plan, an
invited account, a second factor) it makes its own.

A case's ``examples`` are inputs the fuzzing once found a 500 with, so they are tried on every
run (``@example`` on the other tests)."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

import pyotp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from taper.domain.instrument import CIWA_B
from taper.domain.red_flags import RED_FLAGS
from taper.extensions import db
from taper.forms import UNSAVABLE
from taper.models import (
    Alert,
    AlertSettings,
    AuditEvent,
    CareTeamLink,
    DailyLog,
    LogDose,
    OutboxMessage,
    PlanRevision,
    RedFlagReport,
    Role,
    TaperPlan,
    TaperStep,
    TwoFactor,
    User,
    VisitAssessment,
)
from taper.models.user import DEFAULT_REMINDER_AT
from taper.services import accounts, twofactor
from tests.conftest import PASSWORD, login_as
from tests.helpers import (
    CATALOGUE,
    Route,
    fill_log,
    log_form,
    patient_today,
    plan_form,
    previous_step_code,
    row_counts,
    version_of,
)
from tests.tools.smtp import free_port

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# The routes added for C1/C2 (each example may set up its own records): fewer examples each.
FUZZ_EACH = settings(FUZZ, max_examples=25)
nasty = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "-1",
            "5",
            "NaN",
            "inf",
            "1e309",
            "ten",
            "0",
            "",
            "\x00",
            "\u202e",
            "😀",
            "2999-02-30",
            "' OR 1=1--",
            "<script>alert(1)</script>",
            "{{7*7}}",
            "9" * 40,
            "0.0001",
            "4.0",
            " 4 ",
            "٣",  # an Arabic-Indic digit: str.isdigit() and int() accept it
            "١٢٣٤٥٦",  # six of them: looks like a one-time code to str.isdigit()
            "²",  # str.isdigit() says yes, int() says no
        ]
    ),
)


def columns(app, model, key, *names):
    """Some columns of one row (None when there is no row), to see an update that adds no row."""
    with app.app_context():
        row = db.session.get(model, key)
        return None if row is None else tuple(getattr(row, name) for name in names)


def changes(app) -> int:
    """Audit rows of changes. A refused plan action shows the plan page again, and showing a
    page records a view ("*.view"), which is not a write the refusal made."""
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.not_like("%.view"))
        )


def with_value(data: dict, field: str, value) -> dict:
    """The form with one field replaced; "a+b" replaces both (a password and its confirmation).
    A field the form does not have ("extra") is posted beside a form that would be saved: where
    the form holds only secrets, that is the example which gets through."""
    return {**data, **dict.fromkeys(field.split("+"), value)}


def merges_slashes(value: str) -> bool:
    """A path value that puts "//" in the URL: the router redirects (308) to the URL with the
    slashes merged when that URL is a page, else it is a 404."""
    return value.startswith("/") or "//" in value


def local_redirect(response) -> bool:
    """C5: a redirect goes to a path of this site, never to another host."""
    location = response.headers["Location"]
    parts = urlsplit(location)
    return not (parts.scheme or parts.netloc) and location.startswith("/") and "\\" not in location


# --- every form: one table, one test ------------------------------------------------------
#
# Each check posts a form that would be saved with one field replaced by ``value`` (set up with
# the fixtures the case names) and checks the status and the rows written. ``fields`` is drawn
# from ``fields``; ``extra`` draws more arguments (a stale password window, ...).


@dataclass(frozen=True)
class FormCase:
    """How to fuzz one form of the route catalogue."""

    rule: str
    check: Callable[..., None]
    fields: st.SearchStrategy
    fixtures: tuple[str, ...] = ("app", "client")
    values: st.SearchStrategy = nasty
    extra: dict[str, st.SearchStrategy] = field(default_factory=dict)
    examples: tuple[dict, ...] = ()  # inputs the fuzzing once found a 500 with: tried every run
    config: dict = field(default_factory=dict)  # app settings for this case
    max_examples: int = 25

    @property
    def name(self) -> str:
        return self.check.__name__.removeprefix("check_")


def check_daily_log(ctx, field, value):
    login_as(ctx.client, ctx.patient)
    tables = (DailyLog, LogDose, Alert, AuditEvent)
    before = row_counts(ctx.app, *tables)
    data = log_form(patient_today(ctx.patient), plans={ctx.active_plan: "7.5"})
    data[field.format(plan=ctx.active_plan)] = value
    response = ctx.client.post("/log", data=data)
    assert response.status_code < 500
    after = row_counts(ctx.app, *tables)
    if response.status_code == 302:
        assert after[:2] == (before[0] + 1, before[1] + 1)  # the log and its one dose answer
    else:
        assert response.status_code in (200, 400)
        if response.status_code == 400:
            assert after == before


def check_daily_log_dose_field_names(ctx, field, value):
    """A dose answer for a plan the form made up (``field`` is its name): refused when it names
    a plan id that is not in force, ignored when it names no plan id."""
    login_as(ctx.client, ctx.patient)
    tables = (DailyLog, LogDose, Alert)
    before = row_counts(ctx.app, *tables)
    data = log_form(patient_today(ctx.patient), plans={ctx.active_plan: "7.5"})
    for prefix in ("took_", "dose_taken_", "shown_"):
        data.setdefault(prefix + field, value)
    response = ctx.client.post("/log", data=data)
    assert response.status_code in (302, 400)
    after = row_counts(ctx.app, *tables)
    if response.status_code == 302:
        assert after[:2] == (before[0] + 1, before[1] + 1)
    else:
        assert after == before


def check_new_plan(ctx, field, value):
    login_as(ctx.client, ctx.clinician)
    tables = (TaperPlan, PlanRevision, TaperStep)
    before = row_counts(ctx.app, *tables)
    data = plan_form([("2026-03-02", "10", {}, ""), ("2026-03-16", "7.5", {}, "")])
    data[field] = value
    response = ctx.client.post(f"/clinician/patients/{ctx.patient.id}/plans/new", data=data)
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert row_counts(ctx.app, *tables) == before


def check_login(ctx, field, value, password):
    data = {"email": value, "password": password}
    assert ctx.client.post("/login", data=data).status_code in (200, 302, 429)


def check_login_next(ctx, field, value):
    user = ctx.make_user(Role.PATIENT)
    visitor = ctx.app.test_client()
    expected = 400 if "\x00" in value else 200
    assert visitor.get("/login", query_string={"next": value}).status_code == expected
    audited = row_counts(ctx.app, AuditEvent)
    response = visitor.post(
        "/login", query_string={"next": value}, data={"email": user.email, "password": PASSWORD}
    )
    if "\x00" in value:
        assert response.status_code == 400
        assert row_counts(ctx.app, AuditEvent) == audited
    else:
        assert response.status_code == 302
        assert local_redirect(response)


DEAD_SMTP_PORT = free_port()  # urgent e-mails fail at once and wait in the outbox


def check_help(ctx, field, value):
    login_as(ctx.client, ctx.patient)
    tables = (RedFlagReport, Alert, OutboxMessage, AuditEvent)
    before = row_counts(ctx.app, *tables)
    data = {"red_flags": ["confusion"], "submission_id": uuid.uuid4().hex}
    response = ctx.client.post("/help", data=with_value(data, field, value))
    assert response.status_code in (200, 400)
    added = [b - a for a, b in zip(before, row_counts(ctx.app, *tables), strict=True)]
    if response.status_code == 400:
        assert added == [0, 0, 0, 0]
    else:  # the urgent page: the report with its alert and e-mail, or "already sent" (nothing)
        assert added in ([1, 1, 1, 2], [0, 0, 0, 0])


def check_assessment(ctx, field, value):
    login_as(ctx.client, ctx.clinician)
    before = row_counts(ctx.app, VisitAssessment, AuditEvent)
    data = {**{item.key: "1" for item in CIWA_B.items}, "note": "Steady at the visit"}
    data[field] = value
    url = f"/clinician/patients/{ctx.patient.id}/assessments/new"
    response = ctx.client.post(url, data=data)
    assert response.status_code in (302, 400)
    after = row_counts(ctx.app, VisitAssessment, AuditEvent)
    if response.status_code == 302:
        assert after == (before[0] + 1, before[1] + 1)
    else:
        assert after == before


def check_alert_settings(ctx, field, value):
    app, patient = ctx.app, ctx.patient
    login_as(ctx.client, ctx.clinician)
    before = row_counts(app, AlertSettings, AuditEvent)
    stored = columns(app, AlertSettings, patient.id, "thresholds")
    data = {"high_score": "30", "rising_points": "5", "missed_days": "3", "plan_end_days": "7"}
    data[field] = value
    response = ctx.client.post(f"/clinician/patients/{patient.id}/alert-settings", data=data)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert row_counts(app, AuditEvent) == (before[1] + 1,)
        (thresholds,) = columns(app, AlertSettings, patient.id, "thresholds")
        assert set(thresholds) == {"high_score", "rising_points", "missed_days", "plan_end_days"}
    else:
        assert row_counts(app, AlertSettings, AuditEvent) == before
        assert columns(app, AlertSettings, patient.id, "thresholds") == stored


def open_alert(app, patient) -> int:
    """A fresh open alert, so every example can acknowledge or resolve something."""
    with app.app_context():
        alert = Alert(
            patient_id=patient.id,
            kind=f"fuzz-{uuid.uuid4().hex[:8]}",
            tier="review",
            reason="Fuzzing the alert inbox",
        )
        db.session.add(alert)
        db.session.commit()
        return alert.id


def alert_action(ctx, action, note):
    app = ctx.app
    login_as(ctx.client, ctx.clinician)
    alert_id = open_alert(app, ctx.patient)
    state = ("status", "note", "acknowledged_at", "resolved_at")
    before, audited = columns(app, Alert, alert_id, *state), changes(app)
    response = ctx.client.post(f"/clinician/alerts/{alert_id}/{action}", data={"note": note})
    assert response.status_code == 302  # back to the inbox, with a message either way
    after = columns(app, Alert, alert_id, *state)
    assert changes(app) == audited + (after != before)  # the change and its audit row together
    if UNSAVABLE.search(note):
        assert after == before


def check_acknowledge_alert(ctx, field, value):
    alert_action(ctx, "acknowledge", value)


def check_resolve_alert(ctx, field, value):
    alert_action(ctx, "resolve", value)


def go_stale(client) -> None:
    """The password was typed long ago: a schedule change must carry it again (A9)."""
    with client.session_transaction() as session:
        session["auth_at"] = 0


def check_edit_plan(ctx, field, value, stale):
    app, client, active_plan = ctx.app, ctx.client, ctx.active_plan
    login_as(client, ctx.clinician)
    if stale:
        go_stale(client)
    today = patient_today(ctx.patient)
    steps = [
        (today - timedelta(days=20), "10", {}, ""),
        (today - timedelta(days=3), "7.5", {}, ""),
        (today + timedelta(days=11), "5", {}, "Fuzzed"),
    ]
    data = plan_form(
        steps, reason="Fuzzing", version=version_of(app, active_plan), password=PASSWORD
    )
    data[field] = value
    tables = (TaperPlan, PlanRevision, TaperStep, AuditEvent)
    before, version = row_counts(app, *tables), version_of(app, active_plan)
    response = client.post(f"/clinician/plans/{active_plan}/edit", data=data)
    assert response.status_code in (200, 302, 400, 409)
    after = row_counts(app, *tables)
    if response.status_code == 302:
        assert [b - a for a, b in zip(before, after, strict=True)] == [0, 1, 3, 1]
        assert version_of(app, active_plan) == version + 1
    else:  # "check the steps" / "add rows" (200), a refusal, or a stale version
        assert after == before
        assert version_of(app, active_plan) == version


PLAN_ACTIONS = {
    "hold": {"reason": "Fuzz hold", "until": ""},
    "release-hold": {"reason": "Fuzz release"},
    "status": {"status": "paused"},
}


def plan_action(ctx, action, field, value, stale):
    app, client = ctx.app, ctx.client
    login_as(client, ctx.clinician)
    owner = ctx.make_user(Role.PATIENT, clinicians=(ctx.clinician,))
    today = patient_today(owner)
    plan_id = ctx.write_plan(
        owner, [(today - timedelta(days=7), "10", {}, ""), (today + timedelta(days=7), "8", {}, "")]
    )
    # Each action as confirmed after its new dates were shown, for the patient's day.
    confirmed = {"confirm": "1", "day": today.isoformat()}
    if action == "release-hold":  # a plan on hold, so the form as posted would end the hold
        held = {"reason": "Held", "until": "", "version": str(version_of(app, plan_id))}
        held.update(confirmed)
        assert client.post(f"/clinician/plans/{plan_id}/hold", data=held).status_code == 302
    if stale:
        go_stale(client)
    data = {
        **PLAN_ACTIONS[action],
        **confirmed,
        "version": str(version_of(app, plan_id)),
        "password": PASSWORD,
    }
    data[field] = value
    state = ("version", "status", "current_revision_id")
    before, rows, audited = (
        columns(app, TaperPlan, plan_id, *state),
        row_counts(app, PlanRevision, TaperStep),
        changes(app),
    )
    response = client.post(f"/clinician/plans/{plan_id}/{action}", data=data)
    # Done; the new dates shown again to confirm (200, or 400 with a message: a new day, a
    # password to type); or a stale version (409).
    assert response.status_code in (200, 302, 400, 409)
    after = columns(app, TaperPlan, plan_id, *state)
    if response.status_code != 302 or after == before:
        assert (after, row_counts(app, PlanRevision, TaperStep), changes(app)) == (
            before,
            rows,
            audited,
        )
    else:
        assert changes(app) == audited + 1
        # A hold, a release and a pause are revisions (dates move); completing is not.
        revisions = 1 if action != "status" or data["status"] == "paused" else 0
        assert row_counts(app, PlanRevision, TaperStep) == (
            rows[0] + revisions,
            rows[1] + 2 * revisions,
        )


def check_hold(ctx, field, value, stale):
    plan_action(ctx, "hold", field, value, stale)


def check_release_hold(ctx, field, value, stale):
    plan_action(ctx, "release-hold", field, value, stale)


def check_plan_status(ctx, field, value, stale):
    plan_action(ctx, "status", field, value, stale)


def new_email() -> str:
    return f"fuzz.{uuid.uuid4().hex[:12]}@example.org"


def check_new_patient(ctx, field, value):
    login_as(ctx.client, ctx.clinician)
    tables = (User, CareTeamLink, AuditEvent)
    before = row_counts(ctx.app, *tables)
    data = {"name": "Casey Newcomer", "email": new_email(), "timezone": "Europe/Berlin"}
    data[field] = value
    response = ctx.client.post("/clinician/patients/new", data=data)
    assert response.status_code in (200, 400)  # the set-password link page, or the form again
    after = row_counts(ctx.app, *tables)
    if response.status_code == 200:
        assert after == (before[0] + 1, before[1] + 1, before[2] + 3)  # + the link's row
    else:
        assert after == before


def check_admin_new_account(ctx, field, value):
    login_as(ctx.client, ctx.admin)
    before = row_counts(ctx.app, User, AuditEvent)
    data = {"name": "Dr Jordan Ellis", "email": new_email(), "role": "clinician"}
    data |= {"timezone": "Europe/London", field: value}
    response = ctx.client.post("/admin/accounts/new", data=data)
    assert response.status_code in (200, 400)
    after = row_counts(ctx.app, User, AuditEvent)
    if response.status_code == 200:
        assert after == (before[0] + 1, before[1] + 2)  # user.create and user.password_link
    else:
        assert after == before


def check_care_team_assignment(ctx, field, value):
    newcomer = ctx.make_user(Role.PATIENT)  # on nobody's care team yet
    login_as(ctx.client, ctx.admin)
    before = row_counts(ctx.app, CareTeamLink, AuditEvent)
    data = {"clinician": str(ctx.clinician.id), "patient": str(newcomer.id), field: value}
    response = ctx.client.post("/admin/care-team", data=data)
    assert response.status_code in (302, 400)
    after = row_counts(ctx.app, CareTeamLink, AuditEvent)
    if response.status_code == 302:  # added, or already on that care team (nothing to add)
        assert after in ((before[0] + 1, before[1] + 1), before)
    else:
        assert after == before


NEW_PASSWORD = "a long sentence only I know"


def check_set_password(ctx, field, value):
    app = ctx.app
    invited = ctx.make_user(Role.PATIENT, password_hash=None)
    with app.app_context():
        token = accounts.make_set_password_token(db.session.get(User, invited.id))
    data = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    if field == "token":
        token = quote(value, safe="")
    else:
        data = with_value(data, field, value)
    audited = row_counts(app, AuditEvent)
    response = app.test_client().post(f"/set-password/{token}", data=data)
    # Set (302), the form again (200), a link that is not valid (400) or no such page (404).
    if field == "token" and merges_slashes(value):
        assert response.status_code in (308, 404)
    else:
        assert response.status_code in (200, 302, 400, 404)
    (password_hash,) = columns(app, User, invited.id, "password_hash")
    if response.status_code == 302:
        assert password_hash is not None
        assert row_counts(app, AuditEvent) == (audited[0] + 1,)
    else:
        assert field != "extra"
        assert password_hash is None
        assert row_counts(app, AuditEvent) == audited


def check_change_password(ctx, field, value):
    app = ctx.app
    user = ctx.make_user(Role.PATIENT)
    login_as(ctx.client, user)
    data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    state = ("password_hash", "session_version")
    before, audited = columns(app, User, user.id, *state), row_counts(app, AuditEvent)
    response = ctx.client.post("/password", data=with_value(data, field, value))
    assert response.status_code in (200, 302)
    after = columns(app, User, user.id, *state)
    if response.status_code == 302:
        assert after[0] != before[0]
        assert after[1] == before[1] + 1  # every other session ends (A6)
        assert row_counts(app, AuditEvent) == (audited[0] + 1,)
    else:
        assert field != "extra"
        assert after == before
        assert row_counts(app, AuditEvent) == audited


def check_my_details(ctx, field, value):
    """Your own phone number: stored trimmed and audited once when it changes, else nothing."""
    app = ctx.app
    user = ctx.make_user(Role.PATIENT)
    login_as(ctx.client, user)
    before = changes(app)
    data = with_value({"phone": "07700 900123"}, field, value)
    response = ctx.client.post("/account/details", data=data)
    assert response.status_code in (302, 400)
    (phone,) = columns(app, User, user.id, "phone")
    if response.status_code == 302:
        assert phone is None or phone == phone.strip()
        assert changes(app) == before + (phone is not None)
    else:
        assert field != "extra"
        assert phone is None
        assert changes(app) == before


def check_my_reminder(ctx, field, value):
    """A patient's own daily reminder: stored and audited once when it changes; a refusal
    stores nothing and audits nothing."""
    app = ctx.app
    user = ctx.make_user(Role.PATIENT)
    login_as(ctx.client, user)
    before = changes(app)
    data = with_value({"reminder-on": "on", "reminder-at": "07:45"}, field, value)
    response = ctx.client.post("/account/reminder", data=data)
    assert response.status_code in (302, 400)
    on, at = columns(app, User, user.id, "reminder_on", "reminder_at")
    if response.status_code == 302:
        assert at.second == at.microsecond == 0
        assert changes(app) == before + ((on, at) != (False, DEFAULT_REMINDER_AT))
    else:
        assert field != "extra"
        assert (on, at) == (False, DEFAULT_REMINDER_AT)
        assert changes(app) == before


def check_patient_phone(ctx, field, value):
    """A patient's phone number from their clinician. A refusal shows the patient page again
    (a "patient.view", not a change)."""
    app, patient = ctx.app, ctx.patient
    login_as(ctx.client, ctx.clinician)
    stored, before = columns(app, User, patient.id, "phone"), changes(app)
    data = with_value({"phone-phone": "07700 900123"}, field, value)
    response = ctx.client.post(f"/clinician/patients/{patient.id}/phone", data=data)
    assert response.status_code in (302, 400)
    after = columns(app, User, patient.id, "phone")
    if response.status_code == 302:
        assert after[0] is None or after[0] == after[0].strip()
        assert changes(app) == before + (after != stored)
    else:
        assert field != "extra"
        assert after == stored
        assert changes(app) == before


def with_two_step(app, make_user) -> tuple[User, pyotp.TOTP]:
    """A clinician with two-step login on. The code that turned it on belongs to the previous
    time step, so the current code still works once."""
    user = make_user(Role.CLINICIAN)
    secret = twofactor.new_secret()
    totp = pyotp.TOTP(secret)
    with app.app_context():
        twofactor.enable(db.session.get(User, user.id), secret, previous_step_code(secret))
        db.session.commit()
    return user, totp


def check_login_code(ctx, field, value):
    app = ctx.app
    user, totp = with_two_step(app, ctx.make_user)
    visitor = app.test_client()
    with visitor.session_transaction() as session:  # the password step is done
        session["2fa_user"], session["2fa_since"] = user.get_id(), time.time()
    state = ("last_step", "recovery_hashes")
    before, audited = columns(app, TwoFactor, user.id, *state), row_counts(app, AuditEvent)
    response = visitor.post("/login/code", data=with_value({"code": totp.now()}, field, value))
    assert response.status_code in (200, 302, 429)
    if response.status_code == 302:
        assert local_redirect(response)
        assert columns(app, TwoFactor, user.id, *state) != before
        assert row_counts(app, AuditEvent) > audited
    else:
        assert field != "extra"
        assert columns(app, TwoFactor, user.id, *state) == before
        assert row_counts(app, AuditEvent) == audited


def check_two_step_on(ctx, field, value):
    app, client = ctx.app, ctx.client
    user = ctx.make_user(Role.CLINICIAN)
    login_as(client, user)
    assert client.get("/account/two-step").status_code == 200
    with app.app_context():  # the secret being set up is kept on the server, not in the session
        code = pyotp.TOTP(twofactor.pending_secret(db.session.get(User, user.id))).now()
    before = row_counts(app, TwoFactor, AuditEvent)
    response = client.post("/account/two-step", data=with_value({"code": code}, field, value))
    assert response.status_code == 200  # the recovery codes, or the form again
    after = row_counts(app, TwoFactor, AuditEvent)
    if field == "extra":
        assert after == (before[0] + 1, before[1] + 1)
    else:
        assert after in (before, (before[0] + 1, before[1] + 1))


def check_two_step_off(ctx, field, value):
    app, client = ctx.app, ctx.client
    user, totp = with_two_step(app, ctx.make_user)
    login_as(client, user)
    data = {"password": PASSWORD, "code": totp.now()}
    before = row_counts(app, TwoFactor, AuditEvent)
    response = client.post("/account/two-step/off", data=with_value(data, field, value))
    assert response.status_code in (302, 400)
    after = row_counts(app, TwoFactor, AuditEvent)
    if response.status_code == 302:
        assert after == (before[0] - 1, before[1] + 1)
    else:
        assert field != "extra"
        assert after == before


def check_new_recovery_codes(ctx, field, value):
    app, client = ctx.app, ctx.client
    user, totp = with_two_step(app, ctx.make_user)
    login_as(client, user)
    data = {"renew-password": PASSWORD, "renew-code": totp.now()}
    state = ("last_step", "recovery_hashes")
    before, audited = columns(app, TwoFactor, user.id, *state), row_counts(app, AuditEvent)
    response = client.post("/account/two-step/recovery-codes", data=with_value(data, field, value))
    assert response.status_code in (200, 400)  # the new codes, or the form again
    if response.status_code == 200:
        assert columns(app, TwoFactor, user.id, *state) != before
        assert row_counts(app, AuditEvent) > audited
    else:
        assert field != "extra"
        assert columns(app, TwoFactor, user.id, *state) == before
        assert row_counts(app, AuditEvent) == audited


def one_of(*fields: str) -> st.SearchStrategy:
    """One of these field names."""
    return st.sampled_from(list(fields))


PATIENT_SIDE = ("app", "client", "patient", "active_plan")
CLINICIAN_SIDE = ("app", "client", "clinician", "patient")
PLAN_ACTION_FIELDS = one_of("reason", "until", "status", "version", "password", "day", "confirm")
# A 500 once: "²".isdigit(), but int("²") fails.
STALE_VERSION = ({"field": "version", "value": "²", "stale": False},)

FORM_CASES: tuple[FormCase, ...] = (
    FormCase(
        "/log",
        check_daily_log,
        one_of(
            *(i.key for i in CIWA_B.patient_items),
            "day",
            "sleep_hours",
            "dose_taken_{plan}",
            "took_{plan}",
            "shown_{plan}",
            "note",
            "submission_id",
        ),
        PATIENT_SIDE,
        max_examples=40,
    ),
    FormCase(
        "/log",
        check_daily_log_dose_field_names,
        nasty,
        PATIENT_SIDE,
        # A plan id that is not the patient's; one beyond the database's integers.
        examples=({"field": "1", "value": "yes"}, {"field": "9" * 10, "value": "yes"}),
        max_examples=40,
    ),
    FormCase(
        "/clinician/patients/<int:patient_id>/plans/new",
        check_new_plan,
        one_of(
            "medication",
            "steps-0-start",
            "steps-0-total",
            "steps-0-morning",
            "steps-0-note",
            "steps-1-start",
            "steps-1-total",
            "reason",
        ),
        CLINICIAN_SIDE,
        max_examples=40,
    ),
    FormCase(
        "/login",
        check_login,
        one_of("email"),
        ("client",),
        extra={"password": nasty},
        max_examples=40,
    ),
    FormCase(
        "/login",
        check_login_next,
        one_of("next"),
        ("app", "make_user"),
        config={"RATELIMIT_ENABLED": False},  # every example logs in; A4 is tested elsewhere
    ),
    FormCase(
        "/help",
        check_help,
        one_of("red_flags", "submission_id"),
        ("app", "client", "patient"),
        values=st.one_of(
            nasty,
            st.lists(st.one_of(nasty, st.sampled_from([f.key for f in RED_FLAGS])), max_size=3),
        ),
        config={"SMTP_PORT": DEAD_SMTP_PORT, "SMTP_TIMEOUT": 1},
    ),
    FormCase(
        "/clinician/patients/<int:patient_id>/assessments/new",
        check_assessment,
        one_of(*(i.key for i in CIWA_B.items), "note"),
        CLINICIAN_SIDE,
    ),
    FormCase(
        "/clinician/patients/<int:patient_id>/alert-settings",
        check_alert_settings,
        one_of("high_score", "rising_points", "missed_days", "plan_end_days"),
        CLINICIAN_SIDE,
    ),
    FormCase(
        "/clinician/alerts/<int:alert_id>/acknowledge",
        check_acknowledge_alert,
        one_of("note"),
        CLINICIAN_SIDE,
        max_examples=13,  # the two alert actions shared one test of 25 examples
    ),
    FormCase(
        "/clinician/alerts/<int:alert_id>/resolve",
        check_resolve_alert,
        one_of("note"),
        CLINICIAN_SIDE,
        max_examples=13,
    ),
    FormCase(
        "/clinician/plans/<int:plan_id>/edit",
        check_edit_plan,
        one_of(
            "medication",
            "steps-0-start",
            "steps-0-total",
            "steps-0-evening",
            "steps-2-note",
            "reason",
            "version",
            "password",
            "check",
            "add_rows",
        ),
        (*CLINICIAN_SIDE, "active_plan"),
        extra={"stale": st.booleans()},
        examples=STALE_VERSION,
    ),
    *(
        FormCase(
            f"/clinician/plans/<int:plan_id>/{action}",
            check,
            PLAN_ACTION_FIELDS,
            ("app", "client", "clinician", "make_user", "write_plan"),
            extra={"stale": st.booleans()},
            examples=STALE_VERSION,
            max_examples=9,  # the three plan actions shared one test of 25 examples
        )
        for action, check in (
            ("hold", check_hold),
            ("release-hold", check_release_hold),
            ("status", check_plan_status),
        )
    ),
    FormCase(
        "/clinician/patients/new",
        check_new_patient,
        one_of("name", "email", "timezone"),
        ("app", "client", "clinician"),
    ),
    FormCase(
        "/admin/accounts/new",
        check_admin_new_account,
        one_of("name", "email", "role", "timezone"),
        ("app", "client", "admin"),
    ),
    FormCase(
        "/admin/care-team",
        check_care_team_assignment,
        one_of("clinician", "patient"),
        ("app", "client", "admin", "clinician", "make_user"),
    ),
    FormCase(
        "/set-password/<token>",
        check_set_password,
        one_of("token", "password", "confirm", "password+confirm", "extra"),
        ("app", "make_user"),
    ),
    FormCase(
        "/password",
        check_change_password,
        one_of("current_password", "password", "confirm", "password+confirm", "extra"),
        ("app", "client", "make_user"),
    ),
    FormCase(
        "/account/details",
        check_my_details,
        one_of("phone", "extra"),
        ("app", "client", "make_user"),
        examples=({"field": "phone", "value": "²²²²²²²"}, {"field": "phone", "value": "   "}),
    ),
    FormCase(
        "/account/reminder",
        check_my_reminder,
        one_of("reminder-on", "reminder-at", "extra"),
        ("app", "client", "make_user"),
        examples=(
            {"field": "reminder-at", "value": "١٢:٣٠"},  # Arabic-Indic digits: refused
            {"field": "reminder-on", "value": ""},
        ),
    ),
    FormCase(
        "/clinician/patients/<int:patient_id>/phone",
        check_patient_phone,
        one_of("phone-phone", "extra"),
        CLINICIAN_SIDE,
        examples=({"field": "phone-phone", "value": "١٢٣٤٥٦"},),
    ),
    FormCase(
        "/login/code",
        check_login_code,
        one_of("code", "extra"),
        ("app", "make_user"),
        # A 500 once: hmac.compare_digest refuses non-ASCII text.
        examples=({"field": "code", "value": "١٢٣٤٥٦"},),
    ),
    FormCase(
        "/account/two-step",
        check_two_step_on,
        one_of("code", "extra"),
        ("app", "client", "make_user"),
        examples=({"field": "code", "value": "😀"},),
    ),
    FormCase(
        "/account/two-step/off",
        check_two_step_off,
        one_of("password", "code", "extra"),
        ("app", "client", "make_user"),
        examples=({"field": "code", "value": "١٢٣٤٥٦"},),
    ),
    FormCase(
        "/account/two-step/recovery-codes",
        check_new_recovery_codes,
        one_of("renew-password", "renew-code", "extra"),
        ("app", "client", "make_user"),
        examples=({"field": "renew-code", "value": "١٢٣٤٥٦"},),
        max_examples=10,  # the same checks as turning two-step off
    ),
)


def test_every_form_of_the_catalogue_is_fuzzed():
    """A new form in the route catalogue fails here until it has a case (or a reason)."""
    forms = {rule for rule, route in CATALOGUE.items() if route.takes_a_form}
    fuzzed = {case.rule for case in FORM_CASES}
    assert not fuzzed - CATALOGUE.keys(), sorted(fuzzed - CATALOGUE.keys())
    assert forms == fuzzed, f"forms with no case: {sorted(forms - fuzzed)}"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=case.name, marks=pytest.mark.app_config(**case.config))
        for case in FORM_CASES
    ],
)
def test_every_form_never_500_and_all_or_nothing(request, case):
    """A form that would be saved, with one field spoilt: never a 500, and a refusal writes
    nothing (each case's check says which rows its form writes)."""
    ctx = SimpleNamespace(**{name: request.getfixturevalue(name) for name in case.fixtures})

    def run(field, value, **extra):
        case.check(ctx, field, value, **extra)

    run.__name__ = run.__qualname__ = f"fuzz_{case.name}"  # its own examples database key
    run = given(field=case.fields, value=case.values, **case.extra)(run)
    for known in case.examples:
        run = example(**known)(run)
    settings(FUZZ, max_examples=case.max_examples)(run)()


# --- query parameters and path values ------------------------------------------------------


@pytest.fixture
def history(app, client, clinician, patient, active_plan) -> date:
    """Something behind every query parameter: a logged day (with the review alert a high score
    raises) and a second revision of the active plan. Returns the logged day."""
    today = patient_today(patient)
    login_as(client, patient)
    assert client.post("/log", data=fill_log(client, score=3)).status_code == 302
    login_as(client, clinician)
    held = {
        "reason": "Settling",
        "until": "",
        "version": str(version_of(app, active_plan)),
        "confirm": "1",  # the hold as confirmed after its new dates were shown
        "day": today.isoformat(),
    }
    assert client.post(f"/clinician/plans/{active_plan}/hold", data=held).status_code == 302
    return today


def is_day(value: str, day: date) -> bool:
    try:
        return date.fromisoformat(value) == day
    except ValueError:
        return False


def get_refused_or_shown(app, client, url: str, query: dict | None = None) -> int:
    """GET a page; a refusal (400/404) must not record a view of something it did not show."""
    audited = row_counts(app, AuditEvent)
    status = client.get(url, query_string=query).status_code
    if status in (400, 404):
        assert row_counts(app, AuditEvent) == audited, url
    return status


def db_plan_id(app, patient) -> int:
    with app.app_context():
        return db.session.scalar(select(TaperPlan.id).where(TaperPlan.patient_id == patient.id))


@FUZZ
@given(value=nasty)
def test_query_parameters_never_500(client, clinician, patient, value):
    login_as(client, clinician)
    for url, name in [
        ("/clinician/patients", "q"),
        ("/clinician/patients", "alerts"),
        (f"/clinician/patients/{patient.id}/progress", "range"),
        (f"/charts/{patient.id}/progress.png", "range"),
    ]:
        assert client.get(url, query_string={name: value}).status_code < 500


@FUZZ_EACH
@given(value=nasty)
def test_clinician_query_parameters_never_500(app, client, clinician, patient, history, value):
    login_as(client, clinician)
    plan_id = db_plan_id(app, patient)
    expected = 400 if "\x00" in value else 200  # anything else falls back to the default
    for url, name in [
        ("/clinician/patients", "page"),
        ("/clinician/alerts", "page"),
        (f"/clinician/plans/{plan_id}/revisions", "a"),
        (f"/clinician/plans/{plan_id}/revisions", "b"),
        (f"/charts/{patient.id}/symptoms.svg", "range"),
        (f"/charts/{patient.id}/progress.svg", "range"),
    ]:
        assert get_refused_or_shown(app, client, url, {name: value}) == expected, (url, name)


@FUZZ_EACH
@given(value=nasty)
@example(value="9" * 40)  # a 500: an id beyond the database's integers
def test_admin_query_parameters_never_500(app, client, admin, patient, value):
    login_as(client, admin)
    expected = 400 if "\x00" in value else 200
    assert get_refused_or_shown(app, client, "/admin/audit", {"patient": value}) == expected


@FUZZ_EACH
@given(value=nasty)
def test_patient_query_parameters_never_500(app, client, patient, history, value):
    login_as(client, patient)
    expected = 400 if "\x00" in value else 200
    for url, name in [
        ("/log", "day"),
        ("/progress", "range"),
        (f"/charts/{patient.id}/progress.png", "range"),
    ]:
        assert get_refused_or_shown(app, client, url, {name: value}) == expected, (url, name)


@FUZZ_EACH
@given(value=st.one_of(nasty, st.dates().map(date.isoformat)))
def test_log_day_paths_never_500(app, client, clinician, patient, history, value):
    """The day in /history/<day> and /clinician/patients/<id>/logs/<day>: the logged day's
    page, else 404. A "//" the value makes in the path is merged by a redirect on this site."""
    expected = {200} if is_day(value, history) else {404}
    if merges_slashes(value):
        expected = {308, 404}
    path = quote(value, safe="")
    login_as(client, patient)
    assert get_refused_or_shown(app, client, f"/history/{path}") in expected
    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/logs/{path}"
    assert get_refused_or_shown(app, client, url) in expected


def id_routes(app, value: int) -> list[tuple[Route, str, str]]:
    """(route, method, URL) for every route of the catalogue with an <int:...> id, each id set
    to ``value``."""
    adapter = app.url_map.bind("localhost")
    routes = []
    for rule in app.url_map.iter_rules():
        route = CATALOGUE[rule.rule]
        if route.takes_an_id:
            ids = [a for a, c in rule._converters.items() if isinstance(c, IntegerConverter)]
            values = {
                "day": "2026-03-02",
                "fmt": "png",
                "name": "logs.csv",
                **dict.fromkeys(ids, value),
            }
            url = adapter.build(rule.endpoint, {a: values[a] for a in rule.arguments})
            routes += [(route, m, url) for m in sorted(route.methods)]
    return routes


@FUZZ_EACH
@given(value=st.integers(min_value=10**6, max_value=10**40))
@example(value=2**31)  # a 500 on PostgreSQL (its ids are 32-bit)
@example(value=2**63)  # and on SQLite (64-bit)
def test_unknown_ids_in_paths_are_404_never_500(app, client, clinician, admin, value):
    """Every id in every URL: an id nobody has, however large, is a 404 that writes nothing."""
    failures = []
    for route, method, url in id_routes(app, value):
        login_as(client, clinician if Role.CLINICIAN in route.roles else admin)
        audited = row_counts(app, AuditEvent)
        status = client.open(url, method=method).status_code
        if status != 404 or row_counts(app, AuditEvent) != audited:
            failures.append(f"{method} {url}: {status}")
    assert not failures, "\n".join(failures)
