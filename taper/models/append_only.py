"""Database triggers that refuse UPDATE and DELETE on the append-only tables, so raw SQL or a
bulk statement cannot rewrite the audit trail or a saved plan revision either (SECURITY.md D5,
F4). The ORM listeners in audit.py and plan.py give the clear error; these are the backstop.

Migration 0006 creates the same triggers in real databases; here they follow ``create_all``."""

from __future__ import annotations

from sqlalchemy import DDL, event

from taper.models.audit import AuditEvent
from taper.models.plan import PlanRevision, TaperStep

TABLES = (AuditEvent.__table__, PlanRevision.__table__, TaperStep.__table__)
# DDL formats its text with %, so the function's own % is written %%.
PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION taper_refuse_change() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION '%% rows are append-only', TG_TABLE_NAME; END $$ LANGUAGE plpgsql"
)


def _statements(table: str) -> list[DDL]:
    return [
        DDL(PG_FUNCTION).execute_if(dialect="postgresql"),
        DDL(
            f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION taper_refuse_change()"
        ).execute_if(dialect="postgresql"),
        *(
            DDL(
                f'CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON "{table}" '
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
            ).execute_if(dialect="sqlite")
            for verb in ("UPDATE", "DELETE")
        ),
    ]


for _table in TABLES:
    for _statement in _statements(_table.name):
        event.listen(_table, "after_create", _statement)
