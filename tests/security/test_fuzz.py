"""C1/C2: Hypothesis over every form field and query parameter: never a 500, never a partial write.

Each form test posts a form that would be saved, with one field replaced by a nasty value, and
checks that the status is one the route may answer and that a refusal wrote no row in the tables
the route writes. Query parameters, the day in a URL and every id in a URL fall back to a
default, or are refused (400/404) without recording a view. A test's fixtures are shared by all
its examples, so what one example saves the next one sees; where an example needs something fresh
(an open alert, an active plan, an invited account, a second factor) it makes its own.

An ``@example`` marks an input the fuzzing once found a 500 with, so it is tried on every run.
"""

import time
import uuid
from datetime import date, timedelta
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
from taper.services import accounts, twofactor
from tests.conftest import PASSWORD, login_as
from tests.helpers import fill_log, log_form, patient_today, plan_form, version_of
from tests.tools.smtp import free_port

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


def counts(app, *models):
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in models)


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


@FUZZ
@given(
    field=st.sampled_from(
        [
            *(i.key for i in CIWA_B.patient_items),
            "day",
            "sleep_hours",
            "dose_taken_{plan}",
            "took_{plan}",
            "shown_{plan}",
            "note",
            "submission_id",
        ]
    ),
    value=nasty,
)
def test_daily_log_never_500_and_all_or_nothing(app, client, patient, active_plan, field, value):
    login_as(client, patient)
    before = counts(app, DailyLog, LogDose, Alert, AuditEvent)
    data = log_form(patient_today(patient), plans={active_plan: "7.5"})
    data[field.format(plan=active_plan)] = value
    response = client.post("/log", data=data)
    assert response.status_code < 500
    after = counts(app, DailyLog, LogDose, Alert, AuditEvent)
    if response.status_code == 302:
        assert after[:2] == (before[0] + 1, before[1] + 1)  # the log and its one dose answer
    else:
        assert response.status_code in (200, 400)
        if response.status_code == 400:
            assert after == before


@FUZZ
@given(name=nasty, value=nasty)
@example(name="1", value="yes")  # a plan id that is not the patient's
@example(name="9" * 10, value="yes")  # beyond the database's integers
def test_daily_log_dose_field_names_never_500(app, client, patient, active_plan, name, value):
    """A dose answer for a plan the form made up: refused when it names a plan id that is not
    in force, ignored when it names no plan id; never a 500, never a partial write."""
    login_as(client, patient)
    before = counts(app, DailyLog, LogDose, Alert)
    data = log_form(patient_today(patient), plans={active_plan: "7.5"})
    for prefix in ("took_", "dose_taken_", "shown_"):
        data.setdefault(prefix + name, value)
    response = client.post("/log", data=data)
    assert response.status_code in (302, 400)
    after = counts(app, DailyLog, LogDose, Alert)
    if response.status_code == 302:
        assert after[:2] == (before[0] + 1, before[1] + 1)
    else:
        assert after == before


@FUZZ
@given(
    field=st.sampled_from(
        [
            "medication",
            "steps-0-start",
            "steps-0-total",
            "steps-0-morning",
            "steps-0-note",
            "steps-1-start",
            "steps-1-total",
            "reason",
        ]
    ),
    value=nasty,
)
def test_plan_editor_never_500_and_all_or_nothing(app, client, clinician, patient, field, value):
    login_as(client, clinician)
    before = counts(app, TaperPlan, PlanRevision, TaperStep)
    data = plan_form([("2026-03-02", "10", {}, ""), ("2026-03-16", "7.5", {}, "")])
    data[field] = value
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code in (302, 400)
    after = counts(app, TaperPlan, PlanRevision, TaperStep)
    if response.status_code == 400:
        assert after == before


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


@FUZZ
@given(email=nasty, password=nasty)
def test_login_never_500(client, email, password):
    assert client.post("/login", data={"email": email, "password": password}).status_code in (
        200,
        302,
        429,
    )


# --- patients: "I need help now" ----------------------------------------------------------

DEAD_SMTP_PORT = free_port()  # urgent e-mails fail at once and wait in the outbox


@pytest.mark.app_config(SMTP_PORT=DEAD_SMTP_PORT, SMTP_TIMEOUT=1)
@FUZZ_EACH
@given(
    field=st.sampled_from(["red_flags", "submission_id"]),
    value=st.one_of(
        nasty, st.lists(st.one_of(nasty, st.sampled_from([f.key for f in RED_FLAGS])), max_size=3)
    ),
)
def test_help_never_500_and_all_or_nothing(app, client, patient, field, value):
    login_as(client, patient)
    tables = (RedFlagReport, Alert, OutboxMessage, AuditEvent)
    before = counts(app, *tables)
    data = {"red_flags": ["confusion"], "submission_id": uuid.uuid4().hex}
    response = client.post("/help", data=with_value(data, field, value))
    assert response.status_code in (200, 400)
    added = [b - a for a, b in zip(before, counts(app, *tables), strict=True)]
    if response.status_code == 400:
        assert added == [0, 0, 0, 0]
    else:  # the urgent page: the report with its alert and e-mail, or "already sent" (nothing)
        assert added in ([1, 1, 1, 2], [0, 0, 0, 0])


# --- clinicians: visit assessments, alerts, thresholds -------------------------------------


@FUZZ_EACH
@given(field=st.sampled_from([*(i.key for i in CIWA_B.items), "note"]), value=nasty)
def test_assessment_never_500_and_all_or_nothing(app, client, clinician, patient, field, value):
    login_as(client, clinician)
    before = counts(app, VisitAssessment, AuditEvent)
    data = {**{item.key: "1" for item in CIWA_B.items}, "note": "Steady at the visit"}
    data[field] = value
    response = client.post(f"/clinician/patients/{patient.id}/assessments/new", data=data)
    assert response.status_code in (302, 400)
    after = counts(app, VisitAssessment, AuditEvent)
    if response.status_code == 302:
        assert after == (before[0] + 1, before[1] + 1)
    else:
        assert after == before


@FUZZ_EACH
@given(
    field=st.sampled_from(["high_score", "rising_points", "missed_days", "plan_end_days"]),
    value=nasty,
)
def test_alert_settings_never_500_and_all_or_nothing(app, client, clinician, patient, field, value):
    login_as(client, clinician)
    before = counts(app, AlertSettings, AuditEvent)
    stored = columns(app, AlertSettings, patient.id, "thresholds")
    data = {"high_score": "30", "rising_points": "5", "missed_days": "3", "plan_end_days": "7"}
    data[field] = value
    response = client.post(f"/clinician/patients/{patient.id}/alert-settings", data=data)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert counts(app, AuditEvent) == (before[1] + 1,)
        (thresholds,) = columns(app, AlertSettings, patient.id, "thresholds")
        assert set(thresholds) == {"high_score", "rising_points", "missed_days", "plan_end_days"}
    else:
        assert counts(app, AlertSettings, AuditEvent) == before
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


@FUZZ_EACH
@given(action=st.sampled_from(["acknowledge", "resolve"]), note=nasty)
def test_alert_actions_never_500_and_all_or_nothing(app, client, clinician, patient, action, note):
    login_as(client, clinician)
    alert_id = open_alert(app, patient)
    state = ("status", "note", "acknowledged_at", "resolved_at")
    before, audited = columns(app, Alert, alert_id, *state), changes(app)
    response = client.post(f"/clinician/alerts/{alert_id}/{action}", data={"note": note})
    assert response.status_code == 302  # back to the inbox, with a message either way
    after = columns(app, Alert, alert_id, *state)
    assert changes(app) == audited + (after != before)  # the change and its audit row together
    if UNSAVABLE.search(note):
        assert after == before


# --- clinicians: plans ---------------------------------------------------------------------


def go_stale(client) -> None:
    """The password was typed long ago: a schedule change must carry it again (A9)."""
    with client.session_transaction() as session:
        session["auth_at"] = 0


@FUZZ_EACH
@given(
    field=st.sampled_from(
        [
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
        ]
    ),
    value=nasty,
    stale=st.booleans(),
)
@example(field="version", value="²", stale=False)  # a 500: "²".isdigit(), but int("²") fails
def test_plan_edit_never_500_and_all_or_nothing(
    app, client, clinician, patient, active_plan, field, value, stale
):
    login_as(client, clinician)
    if stale:
        go_stale(client)
    today = patient_today(patient)
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
    before, version = counts(app, *tables), version_of(app, active_plan)
    response = client.post(f"/clinician/plans/{active_plan}/edit", data=data)
    assert response.status_code in (200, 302, 400, 409)
    after = counts(app, *tables)
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


@FUZZ_EACH
@given(
    action=st.sampled_from(sorted(PLAN_ACTIONS)),
    field=st.sampled_from(["reason", "until", "status", "version", "password", "day", "confirm"]),
    value=nasty,
    stale=st.booleans(),
)
@example(action="hold", field="version", value="²", stale=False)  # a 500, as in the editor
@example(action="release-hold", field="version", value="²", stale=False)
@example(action="status", field="version", value="²", stale=False)
def test_plan_actions_never_500_and_all_or_nothing(
    app, client, clinician, make_user, write_plan, action, field, value, stale
):
    login_as(client, clinician)
    owner = make_user(Role.PATIENT, clinicians=(clinician,))
    today = patient_today(owner)
    plan_id = write_plan(
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
        counts(app, PlanRevision, TaperStep),
        changes(app),
    )
    response = client.post(f"/clinician/plans/{plan_id}/{action}", data=data)
    # Done; the new dates shown again to confirm (200, or 400 with a message: a new day, a
    # password to type); or a stale version (409).
    assert response.status_code in (200, 302, 400, 409)
    after = columns(app, TaperPlan, plan_id, *state)
    if response.status_code != 302 or after == before:
        assert (after, counts(app, PlanRevision, TaperStep), changes(app)) == (
            before,
            rows,
            audited,
        )
    else:
        assert changes(app) == audited + 1
        # A hold, a release and a pause are revisions (dates move); completing is not.
        revisions = 1 if action != "status" or data["status"] == "paused" else 0
        assert counts(app, PlanRevision, TaperStep) == (
            rows[0] + revisions,
            rows[1] + 2 * revisions,
        )


# --- accounts: new patients, new accounts, care teams ---------------------------------------


def new_email() -> str:
    return f"fuzz.{uuid.uuid4().hex[:12]}@example.org"


@FUZZ_EACH
@given(field=st.sampled_from(["name", "email", "timezone"]), value=nasty)
def test_new_patient_never_500_and_all_or_nothing(app, client, clinician, field, value):
    login_as(client, clinician)
    tables = (User, CareTeamLink, AuditEvent)
    before = counts(app, *tables)
    data = {"name": "Casey Newcomer", "email": new_email(), "timezone": "Europe/Berlin"}
    data[field] = value
    response = client.post("/clinician/patients/new", data=data)
    assert response.status_code in (200, 400)  # the set-password link page, or the form again
    after = counts(app, *tables)
    if response.status_code == 200:
        assert after == (before[0] + 1, before[1] + 1, before[2] + 3)  # + the link's row
    else:
        assert after == before


@FUZZ_EACH
@given(field=st.sampled_from(["name", "email", "role", "timezone"]), value=nasty)
def test_admin_new_account_never_500_and_all_or_nothing(app, client, admin, field, value):
    login_as(client, admin)
    before = counts(app, User, AuditEvent)
    data = {"name": "Dr Jordan Ellis", "email": new_email(), "role": "clinician"}
    data |= {"timezone": "Europe/London", field: value}
    response = client.post("/admin/accounts/new", data=data)
    assert response.status_code in (200, 400)
    after = counts(app, User, AuditEvent)
    if response.status_code == 200:
        assert after == (before[0] + 1, before[1] + 2)  # user.create and user.password_link
    else:
        assert after == before


@FUZZ_EACH
@given(field=st.sampled_from(["clinician", "patient"]), value=nasty)
def test_care_team_assignment_never_500_and_all_or_nothing(
    app, client, admin, clinician, make_user, field, value
):
    newcomer = make_user(Role.PATIENT)  # on nobody's care team yet
    login_as(client, admin)
    before = counts(app, CareTeamLink, AuditEvent)
    data = {"clinician": str(clinician.id), "patient": str(newcomer.id), field: value}
    response = client.post("/admin/care-team", data=data)
    assert response.status_code in (302, 400)
    after = counts(app, CareTeamLink, AuditEvent)
    if response.status_code == 302:  # added, or already on that care team (nothing to add)
        assert after in ((before[0] + 1, before[1] + 1), before)
    else:
        assert after == before


# --- passwords: set-password links, changing a password, confirming it ---------------------

NEW_PASSWORD = "a long sentence only I know"


@FUZZ_EACH
@given(
    field=st.sampled_from(["token", "password", "confirm", "password+confirm", "extra"]),
    value=nasty,
)
def test_set_password_never_500_and_all_or_nothing(app, make_user, field, value):
    invited = make_user(Role.PATIENT, password_hash=None)
    with app.app_context():
        token = accounts.make_set_password_token(db.session.get(User, invited.id))
    data = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    if field == "token":
        token = quote(value, safe="")
    else:
        data = with_value(data, field, value)
    audited = counts(app, AuditEvent)
    response = app.test_client().post(f"/set-password/{token}", data=data)
    # Set (302), the form again (200), a link that is not valid (400) or no such page (404).
    if field == "token" and merges_slashes(value):
        assert response.status_code in (308, 404)
    else:
        assert response.status_code in (200, 302, 400, 404)
    (password_hash,) = columns(app, User, invited.id, "password_hash")
    if response.status_code == 302:
        assert password_hash is not None
        assert counts(app, AuditEvent) == (audited[0] + 1,)
    else:
        assert field != "extra"
        assert password_hash is None
        assert counts(app, AuditEvent) == audited


@FUZZ_EACH
@given(
    field=st.sampled_from(["current_password", "password", "confirm", "password+confirm", "extra"]),
    value=nasty,
)
def test_change_password_never_500_and_all_or_nothing(app, client, make_user, field, value):
    user = make_user(Role.PATIENT)
    login_as(client, user)
    data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    state = ("password_hash", "session_version")
    before, audited = columns(app, User, user.id, *state), counts(app, AuditEvent)
    response = client.post("/password", data=with_value(data, field, value))
    assert response.status_code in (200, 302)
    after = columns(app, User, user.id, *state)
    if response.status_code == 302:
        assert after[0] != before[0]
        assert after[1] == before[1] + 1  # every other session ends (A6)
        assert counts(app, AuditEvent) == (audited[0] + 1,)
    else:
        assert field != "extra"
        assert after == before
        assert counts(app, AuditEvent) == audited


# Many wrong passwords on one account: no slowing down here (test_throttling.py covers it).
@pytest.mark.app_config(LOGIN_DELAY_FREE_FAILURES=1000, LOGIN_LIMIT_PER_IP_ACCOUNT="1000 per hour")
@FUZZ_EACH
@given(field=st.sampled_from(["password", "next"]), value=nasty)
def test_confirm_password_never_500_and_stays_on_this_site(app, client, clinician, field, value):
    login_as(client, clinician)
    go_stale(client)
    query = {"next": value if field == "next" else "/clinician/patients"}
    data = {"password": value if field == "password" else PASSWORD}
    audited = counts(app, AuditEvent)
    response = client.post("/confirm-password", query_string=query, data=data)
    assert response.status_code in (200, 302, 400)  # 400: a NUL in the query string
    if response.status_code == 302:
        assert local_redirect(response)
    assert counts(app, AuditEvent) == audited


# --- two-step login ------------------------------------------------------------------------


def with_two_step(app, make_user) -> tuple[User, pyotp.TOTP]:
    """A clinician with two-step login on. The code that turned it on belongs to the previous
    time step, so the current code still works once."""
    user = make_user(Role.CLINICIAN)
    secret = twofactor.new_secret()
    totp = pyotp.TOTP(secret)
    with app.app_context():
        twofactor.enable(db.session.get(User, user.id), secret, totp.at(time.time() - 30))
        db.session.commit()
    return user, totp


@FUZZ_EACH
@given(field=st.sampled_from(["code", "extra"]), value=nasty)
@example(field="code", value="١٢٣٤٥٦")  # a 500: hmac.compare_digest refuses non-ASCII text
def test_login_code_never_500_and_all_or_nothing(app, make_user, field, value):
    user, totp = with_two_step(app, make_user)
    visitor = app.test_client()
    with visitor.session_transaction() as session:  # the password step is done
        session["2fa_user"], session["2fa_since"] = user.get_id(), time.time()
    state = ("last_step", "recovery_hashes")
    before, audited = columns(app, TwoFactor, user.id, *state), counts(app, AuditEvent)
    response = visitor.post("/login/code", data=with_value({"code": totp.now()}, field, value))
    assert response.status_code in (200, 302, 429)
    if response.status_code == 302:
        assert local_redirect(response)
        assert columns(app, TwoFactor, user.id, *state) != before
        assert counts(app, AuditEvent) > audited
    else:
        assert field != "extra"
        assert columns(app, TwoFactor, user.id, *state) == before
        assert counts(app, AuditEvent) == audited


@FUZZ_EACH
@given(field=st.sampled_from(["code", "extra"]), value=nasty)
@example(field="code", value="😀")  # a 500: hmac.compare_digest refuses non-ASCII text
def test_turning_two_step_on_never_500_and_all_or_nothing(app, client, make_user, field, value):
    user = make_user(Role.CLINICIAN)
    login_as(client, user)
    assert client.get("/account/two-step").status_code == 200
    with app.app_context():  # the secret being set up is kept on the server, not in the session
        code = pyotp.TOTP(twofactor.pending_secret(db.session.get(User, user.id))).now()
    before = counts(app, TwoFactor, AuditEvent)
    response = client.post("/account/two-step", data=with_value({"code": code}, field, value))
    assert response.status_code == 200  # the recovery codes, or the form again
    after = counts(app, TwoFactor, AuditEvent)
    if field == "extra":
        assert after == (before[0] + 1, before[1] + 1)
    else:
        assert after in (before, (before[0] + 1, before[1] + 1))


@FUZZ_EACH
@given(field=st.sampled_from(["password", "code", "extra"]), value=nasty)
@example(field="code", value="١٢٣٤٥٦")  # a 500: hmac.compare_digest refuses non-ASCII text
def test_turning_two_step_off_never_500_and_all_or_nothing(app, client, make_user, field, value):
    user, totp = with_two_step(app, make_user)
    login_as(client, user)
    data = {"password": PASSWORD, "code": totp.now()}
    before = counts(app, TwoFactor, AuditEvent)
    response = client.post("/account/two-step/off", data=with_value(data, field, value))
    assert response.status_code in (302, 400)
    after = counts(app, TwoFactor, AuditEvent)
    if response.status_code == 302:
        assert after == (before[0] - 1, before[1] + 1)
    else:
        assert field != "extra"
        assert after == before


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
    audited = counts(app, AuditEvent)
    status = client.get(url, query_string=query).status_code
    if status in (400, 404):
        assert counts(app, AuditEvent) == audited, url
    return status


def db_plan_id(app, patient) -> int:
    with app.app_context():
        return db.session.scalar(select(TaperPlan.id).where(TaperPlan.patient_id == patient.id))


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


def id_routes(app, value: int) -> list[tuple[str, str, str]]:
    """(endpoint, method, URL) for every route with an <int:...> id, each id set to ``value``."""
    adapter = app.url_map.bind("localhost")
    routes = []
    for rule in app.url_map.iter_rules():
        ids = [a for a, c in rule._converters.items() if isinstance(c, IntegerConverter)]
        if ids:
            values = {"day": "2026-03-02", "fmt": "png", **dict.fromkeys(ids, value)}
            url = adapter.build(rule.endpoint, {a: values[a] for a in rule.arguments})
            routes += [(rule.endpoint, m, url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


@FUZZ_EACH
@given(value=st.integers(min_value=10**6, max_value=10**40))
@example(value=2**31)  # a 500 on PostgreSQL (its ids are 32-bit)
@example(value=2**63)  # and on SQLite (64-bit)
def test_unknown_ids_in_paths_are_404_never_500(app, client, clinician, admin, value):
    """Every id in every URL: an id nobody has, however large, is a 404 that writes nothing."""
    failures = []
    for endpoint, method, url in id_routes(app, value):
        login_as(client, admin if endpoint.startswith("admin.") else clinician)
        audited = counts(app, AuditEvent)
        status = client.open(url, method=method).status_code
        if status != 404 or counts(app, AuditEvent) != audited:
            failures.append(f"{method} {url} ({endpoint}): {status}")
    assert not failures, "\n".join(failures)


@pytest.mark.app_config(RATELIMIT_ENABLED=False)  # every example logs in; A4 is tested elsewhere
@FUZZ_EACH
@given(value=nasty)
def test_login_next_never_500_and_stays_on_this_site(app, make_user, value):
    user = make_user(Role.PATIENT)
    visitor = app.test_client()
    expected = 400 if "\x00" in value else 200
    assert visitor.get("/login", query_string={"next": value}).status_code == expected
    audited = counts(app, AuditEvent)
    response = visitor.post(
        "/login", query_string={"next": value}, data={"email": user.email, "password": PASSWORD}
    )
    if "\x00" in value:
        assert response.status_code == 400
        assert counts(app, AuditEvent) == audited
    else:
        assert response.status_code == 302
        assert local_redirect(response)
