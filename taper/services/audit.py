"""Writing the audit trail. Rows join the caller's transaction and commit with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

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
    }
    db.session.connection().execute(
        insert(AuditEvent.__table__),
        [
            dict(common, object_id=object_id, patient_id=patient_id, at=utc_now())
            for object_id, patient_id in objects
        ],
    )
