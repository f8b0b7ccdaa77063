"""The ``flask`` commands: users, care teams and the demo data, run through Click's runner."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from taper.extensions import db
from taper.models import AuditEvent, CareTeamLink, DailyLog, Role, TaperPlan, User
from taper.seed.demo import DEMO_USERS
from tests.conftest import PASSWORD, login_as, real_login

NO_ENV_PASSWORD = {"TAPER_PASSWORD": None}  # None removes it while the command runs


@pytest.fixture
def invoke(runner):
    """Run ``flask ARGS...`` with an optional environment and typed input."""

    def run(*args: str, env: dict | None = None, input: str | None = None):
        return runner.invoke(args=list(args), env=env or NO_ENV_PASSWORD, input=input)

    return run


@pytest.fixture
def totals(app):
    """Rows per table, read in a fresh app context."""

    def read(*models) -> tuple[int, ...]:
        with app.app_context():
            return tuple(
                db.session.scalar(select(func.count()).select_from(model)) for model in models
            )

    return read


def user_by_email(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def logs_in(app, email: str, password: str) -> bool:
    response = real_login(app.test_client(), email, password)
    return response.status_code == 302 and response.headers["Location"] == "/"


# --- users create ----------------------------------------------------------------------------


def test_create_user_with_password_from_the_environment_makes_a_working_account(app, invoke):
    result = invoke(
        "users",
        "create",
        "New.Doctor@Example.org",
        "--role",
        "clinician",
        "--name",
        "Dr New Doctor",
        "--timezone",
        "Europe/London",
        env={"TAPER_PASSWORD": PASSWORD},
    )

    assert result.exit_code == 0, result.output
    assert "Created clinician new.doctor@example.org" in result.output
    assert "Password" not in result.output  # no prompt when the environment has it
    user = user_by_email(app, "new.doctor@example.org")
    assert (user.role, user.name, user.timezone, user.active) == (
        Role.CLINICIAN,
        "Dr New Doctor",
        "Europe/London",
        True,
    )
    assert user.password_hash.startswith("$argon2id$")
    assert logs_in(app, "new.doctor@example.org", PASSWORD)
    client = app.test_client()
    real_login(client, "new.doctor@example.org")
    assert client.get("/").headers["Location"] == "/clinician/patients"


def test_create_user_prompts_for_the_password_twice_without_the_environment(app, invoke):
    result = invoke(
        "users",
        "create",
        "prompted@example.org",
        "--role",
        "patient",
        input=(f"{PASSWORD}\n{PASSWORD}\n"),
    )

    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    user = user_by_email(app, "prompted@example.org")
    assert user.role is Role.PATIENT
    assert user.name == "prompted"  # the part before @ when no --name is given
    assert user.timezone == app.config["DEFAULT_TIMEZONE"]
    assert logs_in(app, "prompted@example.org", PASSWORD)


def test_create_user_refuses_when_the_prompted_passwords_differ(app, invoke, totals):
    result = invoke(
        "users", "create", "typo@example.org", "--role", "patient", input=f"{PASSWORD}\nother\n"
    )

    assert result.exit_code != 0
    assert "do not match" in result.output
    assert user_by_email(app, "typo@example.org") is None


def test_create_user_refuses_a_duplicate_email_in_any_case(app, invoke, totals):
    first = invoke(
        "users", "create", "dup@example.org", "--role", "admin", env={"TAPER_PASSWORD": PASSWORD}
    )
    assert first.exit_code == 0, first.output

    again = invoke(
        "users",
        "create",
        "DUP@example.org",
        "--role",
        "clinician",
        env={"TAPER_PASSWORD": PASSWORD},
    )

    assert again.exit_code != 0
    assert "Error: An account with this email already exists." in again.output
    assert "Traceback" not in again.output
    assert totals(User, AuditEvent) == (1, 1)
    assert user_by_email(app, "dup@example.org").role is Role.ADMIN


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["weak@example.org", "--role", "patient"], "short", "Use at least 12 characters."),
        (["weak@example.org", "--role", "patient"], "password1234", "too common"),
        (["weak@example.org", "--role", "patient"], "Weak@Example.org", "too common"),
        (["weak@example.org", "--role", "patient"], "p" * 129, "Use at most 128 characters."),
        (["not-an-email", "--role", "patient"], PASSWORD, "Enter an email address"),
        (["weak@example.org", "--role", "patient", "--name", "   "], PASSWORD, "Enter a name"),
        (
            ["weak@example.org", "--role", "patient", "--timezone", "Mars/Base"],
            PASSWORD,
            "Choose a time zone",
        ),
        (["weak@example.org", "--role", "superuser"], PASSWORD, "Invalid value for '--role'"),
    ],
    ids=[
        "short-password",
        "common-password",
        "password-is-email",
        "long-password",
        "bad-email",
        "blank-name",
        "unknown-zone",
        "unknown-role",
    ],
)
def test_create_user_refuses_bad_input_with_a_clear_message(
    invoke, totals, args, password, message
):
    result = invoke("users", "create", *args, env={"TAPER_PASSWORD": password})

    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert totals(User, AuditEvent) == (0, 0)


# --- users deactivate ------------------------------------------------------------------------


def test_deactivate_switches_the_account_off_and_ends_its_sessions(app, invoke, make_user):
    user = make_user(Role.CLINICIAN, email="leaving@example.org")
    client = app.test_client()
    login_as(client, user)
    assert client.get("/clinician/patients").status_code == 200

    result = invoke("users", "deactivate", "Leaving@Example.org")

    assert result.exit_code == 0, result.output
    assert "Deactivated leaving@example.org" in result.output
    after = user_by_email(app, "leaving@example.org")
    assert after.active is False
    assert after.session_version == user.session_version + 1
    assert client.get("/clinician/patients").headers["Location"].startswith("/login")
    assert not logs_in(app, "leaving@example.org", PASSWORD)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent))
        assert (event.action, event.actor_id, event.object_id) == ("user.deactivate", None, user.id)


def test_deactivate_unknown_email_fails_clearly(invoke, totals, make_user):
    make_user(Role.PATIENT)

    result = invoke("users", "deactivate", "nobody@example.org")

    assert result.exit_code != 0
    assert "No account with email nobody@example.org" in result.output
    assert totals(AuditEvent) == (0,)


# --- care-team add ---------------------------------------------------------------------------


def test_care_team_add_puts_the_patient_on_the_clinicians_list(app, invoke, make_user):
    clinician = make_user(Role.CLINICIAN, email="doc@example.org")
    make_user(Role.PATIENT, email="pat@example.org", name="Pat Added")

    result = invoke("care-team", "add", "DOC@example.org", "Pat@Example.org")

    assert result.exit_code == 0, result.output
    assert "pat@example.org is on doc@example.org's care team" in result.output
    client = app.test_client()
    login_as(client, clinician)
    assert "Pat Added" in client.get("/clinician/patients").get_data(as_text=True)


def test_care_team_add_twice_keeps_one_link(invoke, totals, make_user):
    make_user(Role.CLINICIAN, email="doc@example.org")
    make_user(Role.PATIENT, email="pat@example.org")

    for _ in range(2):
        result = invoke("care-team", "add", "doc@example.org", "pat@example.org")
        assert result.exit_code == 0, result.output

    assert totals(CareTeamLink, AuditEvent) == (1, 1)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("pat@example.org", "other@example.org", "Choose a clinician."),
        ("admin@example.org", "pat@example.org", "Choose a clinician."),
        ("doc@example.org", "doc2@example.org", "Choose a patient."),
        ("doc@example.org", "admin@example.org", "Choose a patient."),
        ("pat@example.org", "doc@example.org", "Choose a clinician."),
        ("doc@example.org", "doc@example.org", "Choose a patient."),
        ("nobody@example.org", "pat@example.org", "Both accounts must exist."),
        ("doc@example.org", "nobody@example.org", "Both accounts must exist."),
    ],
)
def test_care_team_add_refuses_wrong_roles_and_unknown_accounts(
    invoke, totals, make_user, first, second, message
):
    make_user(Role.CLINICIAN, email="doc@example.org")
    make_user(Role.CLINICIAN, email="doc2@example.org")
    make_user(Role.PATIENT, email="pat@example.org")
    make_user(Role.PATIENT, email="other@example.org")
    make_user(Role.ADMIN, email="admin@example.org")

    result = invoke("care-team", "add", first, second)

    assert result.exit_code != 0
    assert f"Error: {message}" in result.output
    assert totals(CareTeamLink, AuditEvent) == (0, 0)


def test_care_team_remove_takes_the_clinician_off_and_warns_when_nobody_is_left(
    app, invoke, totals, make_user
):
    clinician = make_user(Role.CLINICIAN, email="doc@example.org")
    other = make_user(Role.CLINICIAN, email="doc2@example.org")
    patient = make_user(Role.PATIENT, email="pat@example.org", clinicians=(clinician, other))

    result = invoke("care-team", "remove", "DOC@example.org", "pat@example.org")

    assert result.exit_code == 0, result.output
    assert "pat@example.org is not on doc@example.org's care team" in result.output
    assert "no active clinician" not in result.output
    client = app.test_client()
    login_as(client, clinician)
    assert client.get(f"/clinician/patients/{patient.id}").status_code == 404
    result = invoke("care-team", "remove", "doc2@example.org", "pat@example.org")
    assert "Warning: pat@example.org now has no active clinician." in result.output
    assert totals(CareTeamLink, AuditEvent) == (0, 2)
    wrong = invoke("care-team", "remove", "pat@example.org", "doc@example.org")
    assert wrong.exit_code != 0
    assert "Choose a clinician and one of their patients." in wrong.output


def test_deactivate_warns_of_patients_left_with_no_active_clinician(invoke, make_user):
    clinician = make_user(Role.CLINICIAN, email="doc@example.org")
    make_user(Role.PATIENT, email="alone@example.org", clinicians=(clinician,))

    result = invoke("users", "deactivate", "doc@example.org")

    assert result.exit_code == 0, result.output
    assert "Warning: alone@example.org now has no active clinician." in result.output


def test_reactivate_switches_the_account_on_again(app, invoke, make_user):
    make_user(Role.CLINICIAN, email="back@example.org")
    invoke("users", "deactivate", "back@example.org")

    result = invoke("users", "reactivate", "Back@Example.org")

    assert result.exit_code == 0, result.output
    assert "Reactivated back@example.org" in result.output
    assert user_by_email(app, "back@example.org").active is True
    assert logs_in(app, "back@example.org", PASSWORD)


def test_deactivate_refuses_the_last_active_admin(app, invoke, make_user):
    make_user(Role.ADMIN, email="only@example.org")

    result = invoke("users", "deactivate", "only@example.org")

    assert result.exit_code != 0
    assert "last active admin" in result.output
    assert user_by_email(app, "only@example.org").active is True


# --- seed-demo -------------------------------------------------------------------------------


def printed_logins(output: str) -> tuple[str, list[tuple[str, str]]]:
    """The password and the (role, email) pairs that seed-demo printed."""
    password = re.search(r"password for all: (.+)\):", output).group(1)
    pairs = re.findall(r"^\s+(admin|clinician|patient)\s+(\S+@\S+)$", output, re.MULTILINE)
    return password, pairs


def test_seed_demo_twice_changes_nothing_the_second_time(app, invoke, totals):
    tables = (User, CareTeamLink, TaperPlan, DailyLog)
    expected = [(spec["role"].value, spec["email"]) for spec in DEMO_USERS]

    first = invoke("seed-demo")
    assert first.exit_code == 0, first.output
    after_first = totals(*tables)
    second = invoke("seed-demo")
    assert second.exit_code == 0, second.output

    assert "Demo data loaded." in first.output
    assert "Demo data already present." in second.output
    assert totals(*tables) == after_first
    users, links, plans, logs = after_first
    assert users == len(DEMO_USERS)
    assert links == sum(spec["role"] is Role.PATIENT for spec in DEMO_USERS)
    assert plans >= links
    assert logs > 0
    for output in (first.output, second.output):
        assert printed_logins(output)[1] == expected


def test_seed_demo_printed_logins_really_log_in(app, invoke):
    result = invoke("seed-demo")
    assert result.exit_code == 0, result.output
    password, logins = printed_logins(result.output)
    homes = {"admin": "/admin/accounts", "clinician": "/clinician/patients", "patient": "/today"}

    assert {role for role, _ in logins} == set(homes)
    for role, email in logins:
        client = app.test_client()
        response = real_login(client, email, password)
        assert response.status_code == 302, email
        assert client.get("/").headers["Location"] == homes[role]
        assert client.get(homes[role]).status_code == 200


def test_seed_demo_puts_every_demo_patient_on_the_demo_clinicians_care_team(app, invoke):
    assert invoke("seed-demo").exit_code == 0
    clinician = next(s for s in DEMO_USERS if s["role"] is Role.CLINICIAN)
    patients = [s["name"] for s in DEMO_USERS if s["role"] is Role.PATIENT]

    client = app.test_client()
    login_as(client, user_by_email(app, clinician["email"]))
    page = client.get("/clinician/patients").get_data(as_text=True)

    assert patients
    assert [name for name in patients if name not in page] == []


def test_seed_demo_logs_answer_every_plan_in_force_and_jo_is_on_a_crossover(app, invoke):
    """The demo follows the timeline: each log has one dose answer per plan in force on its
    day (Jo, on lorazepam and diazepam side by side, has two), with that day's dose."""
    from taper.services import plans

    assert invoke("seed-demo").exit_code == 0
    with app.app_context():
        for spec in DEMO_USERS:
            if spec["role"] is not Role.PATIENT:
                continue
            patient = db.session.scalar(select(User).where(User.email == spec["email"]))
            entries = db.session.scalars(
                select(DailyLog).where(DailyLog.patient_id == patient.id)
            ).all()
            assert entries, spec["email"]
            for entry in entries:
                expected = {
                    (f.plan.plan_id, f.dose.step.total) for f in plans.in_force(patient, entry.day)
                }
                assert {(d.plan_id, d.dose_scheduled) for d in entry.doses} == expected
        jo = db.session.scalar(select(User).where(User.email == "jo@example.org"))
        last = max(
            db.session.scalars(select(DailyLog).where(DailyLog.patient_id == jo.id)),
            key=lambda e: e.day,
        )
        assert sorted(d.medication for d in last.doses) == ["diazepam", "lorazepam"]
        pat = db.session.scalar(select(User).where(User.email == "pat@example.org"))
        (plan,) = plans.plans_for_patient(pat, include_drafts=False)
        assert plans.hold_of(plan.current_revision) is not None
    client = app.test_client()
    real_login(client, "jo@example.org", printed_logins(invoke("seed-demo").output)[0])
    page = client.get("/log").get_data(as_text=True)
    assert "Did you take your lorazepam as scheduled today: 1.5 mg?" in page
    assert "Did you take your diazepam as scheduled today: 20 mg?" in page


def test_seed_scale_writes_the_dose_answer_of_the_plan_in_force(app, invoke):
    """Bulk-seeded logs carry the dose answer the log form would store: one per log on a day
    its plan is in force (holds moving the later steps), none on a day it is not."""
    from taper.services import plans

    result = invoke(
        "seed-scale", "--clinicians", "1", "--patients", "5", "--days", "120", "--seed", "3"
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        entries = db.session.scalars(select(DailyLog)).all()
        assert len(entries) > 400
        held = 0
        for entry in entries:
            patient = db.session.get(User, entry.patient_id)
            expected = {
                (f.plan.plan_id, f.dose.step.total) for f in plans.in_force(patient, entry.day)
            }
            assert {(d.plan_id, d.dose_scheduled) for d in entry.doses} == expected
            held += any(f.dose.status == "held" for f in plans.in_force(patient, entry.day))
        assert held  # the first patient's week on hold was logged
