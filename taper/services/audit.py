"""Writing the audit trail. Rows join the caller's transaction and commit with it."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Integer, bindparam, cast, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY

from taper.extensions import db
from taper.models import AuditEvent, User
from taper.models.types import utc_now


def record(
    actor: User | None,
    action: str,
    object_type: str,
    object_id: int | None = None,
    *,
    patient_id: int | None = None,
    summary: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction."""
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        summary=summary,
    )
    db.session.add(event)
    return event


def record_views(
    actor: User,
    action: str,
    object_type: str,
    objects: list[tuple[int, int | None]],
    summary: dict[str, Any] | None = None,
) -> None:
    """Audit a page's views in one statement: ``objects`` are (object id, patient id) pairs,
    each row with the same ``summary``."""
    if not objects:
        return
    # On the session's connection (same transaction), not through the ORM's bulk insert:
    # half the cost, and this runs on every list page.
    # summary as record() stores it (None too: JSON null), so every audit row reads alike.
    common = {
        "actor_id": actor.id,
        "action": action,
        "object_type": object_type,
        "summary": summary,
        "at": utc_now(),
    }
    connection = db.session.connection()
    if len(objects) > 1 and connection.dialect.name == "postgresql":
        # A list page's 50 rows as one INSERT … SELECT over two arrays: one statement for
        # the server to run instead of 50.
        object_ids, patient_ids = map(list, zip(*objects, strict=True))
        connection.execute(
            _insert_from_arrays(), dict(common, object_ids=object_ids, patient_ids=patient_ids)
        )
        return
    connection.execute(
        insert(AuditEvent.__table__),
        [
            dict(common, object_id=object_id, patient_id=patient_id)
            for object_id, patient_id in objects
        ],
    )


@cache
def _insert_from_arrays() -> Insert:
    table = AuditEvent.__table__
    rows = (
        func.unnest(
            bindparam("object_ids", type_=ARRAY(Integer)),
            bindparam("patient_ids", type_=ARRAY(Integer)),
        )
        .table_valued("object_id", "patient_id")
        .render_derived(name="viewed")
    )
    constants = {
        name: cast(bindparam(name, type_=table.c[name].type), table.c[name].type)
        for name in ("actor_id", "action", "object_type", "summary", "at")
    }
    return insert(table).from_select(
        [*constants, "object_id", "patient_id"],
        select(*constants.values(), rows.c.object_id, rows.c.patient_id),
    )
