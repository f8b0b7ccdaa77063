"""Models: what the schema itself guarantees, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from taper.extensions import db
from taper.models import AuditEvent, CareTeamLink, Role, User, find_user_by_email
from taper.models.audit import AuditTrailIsAppendOnly
from taper.models.types import UTCDateTime
from taper.services import ServiceError, accounts
from taper.web import load_user
from tests.conftest import PASSWORD_HASH, login_as
from tests.helpers import count_rows

TAPER_PACKAGE = Path(__file__).resolve().parent.parent / "taper"
# Ways to change or remove audit rows behind the ORM's back (SECURITY.md D5).
AUDIT_WRITE_PATTERNS = [
    re.compile(r"\b(delete|update)\(\s*AuditEvent\b"),
    re.compile(r"AuditEvent\.__table__\s*\.\s*(delete|update)\("),
    re.compile(r"query\(\s*AuditEvent\s*\)[^\n]*\.(delete|update)\("),
    re.compile(r"""(delete\s+from|update)\s+["'`]?audit_event\b""", re.IGNORECASE),
]


def count(model) -> int:
    return count_rows(model)


@pytest.fixture
def ctx(app):
    """An app context for tests that work on the session directly."""
    with app.app_context():
        yield
        db.session.rollback()


def new_user(email: str, role: Role = Role.PATIENT, **fields) -> User:
    return User(email=email, name=fields.pop("name", "Some One"), role=role, **fields)


# --- email uniqueness ------------------------------------------------------------------------


@pytest.mark.usefixtures("ctx")
def test_service_refuses_an_email_that_differs_only_in_case():
    accounts.create_user(None, email="A@x.org", name="First", role=Role.PATIENT)
    db.session.commit()

    with pytest.raises(ServiceError) as refused:
        accounts.create_user(None, email="a@X.org", name="Second", role=Role.PATIENT)

    assert refused.value.field == "email"
    assert "already exists" in refused.value.message
    db.session.rollback()
    assert count(User) == 1


@pytest.mark.usefixtures("ctx")
def test_database_refuses_an_email_that_differs_only_in_case():
    db.session.add(new_user("A@x.org"))
    db.session.commit()

    db.session.add(new_user("a@X.org"))
    with pytest.raises(IntegrityError):
        db.session.commit()

    db.session.rollback()
    assert db.session.scalars(select(User.email)).all() == ["a@x.org"]


@pytest.mark.usefixtures("ctx")
def test_email_is_stored_lower_case_and_found_whatever_its_case():
    db.session.add(new_user("  Robin.Quinn@Example.ORG "))
    db.session.commit()

    assert db.session.scalar(select(User.email)) == "robin.quinn@example.org"
    assert find_user_by_email("ROBIN.QUINN@example.org ").email == "robin.quinn@example.org"
    assert find_user_by_email("someone.else@example.org") is None


# --- UTC datetimes ---------------------------------------------------------------------------


def test_utc_datetime_type_refuses_a_naive_value():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2025, 3, 9, 12, 0), None)


@pytest.mark.usefixtures("ctx")
def test_saving_a_naive_datetime_fails_and_nothing_is_stored():
    db.session.add(new_user("naive@example.org", created_at=datetime(2025, 3, 9, 12, 0)))

    with pytest.raises(StatementError, match="naive datetime refused"):
        db.session.commit()

    db.session.rollback()
    assert count(User) == 0


@pytest.mark.parametrize(
    "stored",
    [
        datetime(
            2025, 3, 9, 1, 30, tzinfo=ZoneInfo("America/New_York")
        ),  # the night of a DST change
        datetime(2025, 10, 26, 23, 45, 10, tzinfo=ZoneInfo("Pacific/Auckland")),
        datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
    ],
    ids=["new-york", "auckland", "utc"],
)
def test_datetime_comes_back_aware_in_utc_after_a_round_trip(app, stored):
    with app.app_context():
        db.session.add(new_user("clock@example.org", created_at=stored))
        db.session.commit()
    with app.app_context():  # a new session: the value is read from the database
        loaded = db.session.scalar(select(User.created_at))

    assert loaded.utcoffset().total_seconds() == 0
    assert loaded.tzinfo == UTC
    assert loaded == stored
    assert loaded.replace(tzinfo=None) == stored.astimezone(UTC).replace(tzinfo=None)


def test_default_timestamps_are_aware_and_set_per_row(app):
    with app.app_context():
        db.session.add(new_user("first@example.org"))
        db.session.commit()
        db.session.add(new_user("second@example.org"))
        db.session.commit()
    with app.app_context():
        first, second = db.session.scalars(select(User.created_at).order_by(User.id)).all()

    assert first.tzinfo == UTC
    assert second.tzinfo == UTC
    assert second > first  # a callable default, not one value fixed at import time
    assert abs(datetime.now(UTC) - second).total_seconds() < 60


# --- foreign keys and care-team constraint ---------------------------------------------------


def test_sqlite_connections_enforce_foreign_keys(app):
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            assert db.session.scalar(text("PRAGMA foreign_keys")) == 1
        else:
            assert db.engine.dialect.name == "postgresql"


def test_care_team_link_to_a_missing_user_is_refused(app, clinician):
    with app.app_context():
        db.session.add(CareTeamLink(clinician_id=clinician.id, patient_id=987654))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert count(CareTeamLink) == 0


def test_audit_event_for_a_missing_actor_is_refused(app):
    with app.app_context():
        db.session.add(AuditEvent(actor_id=987654, action="x.y", object_type="user"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert count(AuditEvent) == 0


def test_clinician_cannot_be_on_their_own_care_team(app, clinician):
    with app.app_context():
        db.session.add(CareTeamLink(clinician_id=clinician.id, patient_id=clinician.id))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert count(CareTeamLink) == 0


def test_same_patient_cannot_be_linked_twice_to_one_clinician(app, clinician, patient):
    with app.app_context():
        db.session.add(CareTeamLink(clinician_id=clinician.id, patient_id=patient.id))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert count(CareTeamLink) == 1


# --- append-only audit trail (D5) ------------------------------------------------------------


@pytest.fixture
def audit_row(app, clinician, patient) -> int:
    with app.app_context():
        event = AuditEvent(
            actor_id=clinician.id,
            action="patient.view",
            object_type="user",
            object_id=patient.id,
            patient_id=patient.id,
        )
        db.session.add(event)
        db.session.commit()
        return event.id


def _audit_row_unchanged(app, event_id, clinician, patient) -> None:
    with app.app_context():
        row = db.session.get(AuditEvent, event_id)
        assert row is not None
        assert (row.actor_id, row.action, row.patient_id) == (
            clinician.id,
            "patient.view",
            patient.id,
        )
        assert count(AuditEvent) == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda row: setattr(row, "action", "patient.edit"),
        lambda row: setattr(row, "patient_id", None),
        lambda row: setattr(row, "at", datetime(2000, 1, 1, tzinfo=UTC)),
        lambda row: db.session.delete(row),
    ],
    ids=["update-action", "clear-patient", "backdate", "delete"],
)
def test_audit_event_cannot_be_updated_or_deleted_through_the_session(
    app, audit_row, clinician, patient, change
):
    with app.app_context():
        row = db.session.get(AuditEvent, audit_row)
        change(row)
        with pytest.raises(AuditTrailIsAppendOnly):
            db.session.commit()
        db.session.rollback()

    _audit_row_unchanged(app, audit_row, clinician, patient)


def _python_sources() -> list[Path]:
    return sorted(TAPER_PACKAGE.rglob("*.py"))


def test_no_code_under_taper_updates_or_deletes_audit_rows():
    sources = _python_sources()
    assert TAPER_PACKAGE / "models" / "audit.py" in sources
    assert len(sources) > 20  # the whole package was read, not an empty folder

    offenders = [
        f"{path.relative_to(TAPER_PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(pattern.search(line) for pattern in AUDIT_WRITE_PATTERNS)
    ]

    assert offenders == []


@pytest.mark.parametrize(
    "line",
    [
        "db.session.execute(delete(AuditEvent).where(AuditEvent.id == 1))",
        "db.session.execute(update(AuditEvent).values(action='x'))",
        "db.session.execute(sa.update( AuditEvent ))",
        "conn.execute(AuditEvent.__table__.delete())",
        "db.session.query(AuditEvent).filter_by(id=1).delete()",
        'db.session.execute(text("DELETE FROM audit_event"))',
        "db.session.execute(text('update \"audit_event\" set action = 1'))",
    ],
)
def test_audit_guard_recognises_each_way_of_rewriting_the_trail(line):
    assert any(pattern.search(line) for pattern in AUDIT_WRITE_PATTERNS)


def test_audit_guard_ignores_reading_and_appending():
    harmless = [
        "select(AuditEvent).where(AuditEvent.patient_id == patient.id)",
        "db.session.add(AuditEvent(action='patient.view'))",
        "update(TaperPlan).where(TaperPlan.id == 1)",
    ]
    assert not [line for line in harmless if any(p.search(line) for p in AUDIT_WRITE_PATTERNS)]


# --- session version -------------------------------------------------------------------------


def test_get_id_embeds_the_session_version_and_end_sessions_bumps_it(app, make_user):
    user = make_user(Role.CLINICIAN)
    with app.app_context():
        loaded = db.session.get(User, user.id)
        assert loaded.get_id() == f"{user.id}:1"
        old_identity = loaded.get_id()

        loaded.end_sessions()
        db.session.commit()

        assert loaded.session_version == 2
        assert loaded.get_id() == f"{user.id}:2"
        assert load_user(old_identity) is None
        assert load_user(loaded.get_id()).id == user.id


@pytest.mark.parametrize("identity", ["", "abc", "1", "1:", ":1", "1:x", "x:1", "99999:1"])
def test_malformed_or_unknown_identity_loads_nobody(app, make_user, identity):
    make_user(Role.PATIENT)
    with app.app_context():
        assert load_user(identity) is None


def test_a_cookie_from_before_end_sessions_no_longer_signs_in(app, client, make_user):
    user = make_user(Role.PATIENT)
    login_as(client, user)
    assert client.get("/today").status_code == 200

    with app.app_context():
        db.session.get(User, user.id).end_sessions()
        db.session.commit()

    response = client.get("/today")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_deactivated_user_is_not_loaded_even_with_a_current_session_version(app, make_user):
    user = make_user(Role.PATIENT, active=False, password_hash=PASSWORD_HASH)
    with app.app_context():
        assert load_user(user.get_id()) is None
