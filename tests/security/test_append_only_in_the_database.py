"""D5, F4 at the database: raw SQL cannot update or delete audit rows or saved plan revisions
and their steps, even as the role that owns the tables (the app's own role is refused before
the triggers run: tests/security/test_database_roles.py). Checked on tables made by create_all
(the suite) and by the migrations."""

from datetime import date

import pytest
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from taper import create_app
from taper.extensions import db
from taper.models import AuditEvent, PlanRevision, TaperStep
from tests.conftest import login_as
from tests.helpers import count_rows, six_steps
from tests.tools.databases import fresh_database

TABLES = ("audit_event", "plan_revision", "taper_step")
CHANGES = [
    'UPDATE "{table}" SET id = id',
    'DELETE FROM "{table}"',
]


def refuses_every_change(engine) -> None:
    for table in TABLES:
        for change in CHANGES:
            with engine.connect() as conn:
                count = text(f'SELECT count(*) FROM "{table}"')  # noqa: S608  (fixed names)
                assert conn.scalar(count) > 0, table
                with pytest.raises(DatabaseError, match="append-only"):
                    conn.execute(text(change.format(table=table)))
                conn.rollback()


@pytest.fixture
def saved_plan(client, clinician, patient, write_plan):
    login_as(client, clinician)
    return write_plan(patient, six_steps(date(2026, 3, 2)))


def test_raw_sql_cannot_rewrite_history(app, saved_plan, owner_engine):
    with app.app_context():
        before = [count_rows(m) for m in (AuditEvent, PlanRevision, TaperStep)]
        # On PostgreSQL as the tables' owner: only the triggers stand in its way.
        refuses_every_change(owner_engine or db.engine)
        after = [count_rows(m) for m in (AuditEvent, PlanRevision, TaperStep)]
    assert after == before


def test_the_migrations_install_the_same_triggers():
    import os
    from decimal import Decimal

    from taper.models import Role, TaperPlan, User
    from taper.services import audit

    with fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        migrated = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with migrated.app_context():
            upgrade()
            clinician = User(email="c@x.org", name="C", role=Role.CLINICIAN, timezone="UTC")
            db.session.add(clinician)
            db.session.flush()
            plan = TaperPlan(
                patient_id=clinician.id, medication="diazepam", created_by_id=clinician.id
            )
            step = TaperStep(start_date=date(2026, 3, 2), total=Decimal("10"))
            db.session.add_all(
                [plan, PlanRevision(plan=plan, number=1, author_id=clinician.id, steps=[step])]
            )
            audit.record(clinician, "test", "user", clinician.id)
            db.session.commit()
            refuses_every_change(db.engine)
            db.session.remove()
            db.engine.dispose()
