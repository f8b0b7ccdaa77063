"""What the admin's pages read: every account with its care team, the people a care-team link
can join, and the account audit trail. No clinical data."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from taper.extensions import db
from taper.models import AuditEvent, CareTeamLink, Role, User

# The audit page shows actions on accounts only (an allow-list: a new clinical event name never
# shows up here by accident). Clinical events (plan.*, log.*, alert.*, patient.view ...) are
# the care team's business, not an admin's (DESIGN.md: admins read no clinical data).
ACCOUNT_ACTION_PREFIXES = ("user.", "care_team.", "auth.", "2fa.")
# Rows written before "user.password_link" existed, for a link a clinician issued.
ACCOUNT_ACTIONS = ("patient.new_link",)
AUDIT_PAGE_SIZE = 200


@dataclass(frozen=True)
class AuditTrail:
    """One page of the account audit trail, with the people its rows name."""

    events: list[AuditEvent]
    people: dict[int, User]
    patients: list[User]


def active_clinicians_and_patients() -> tuple[list[User], list[User]]:
    """The active clinicians and the active patients, by name: who a care-team link can join."""
    users = db.session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.name, User.id)
    ).all()
    return (
        [u for u in users if u.role is Role.CLINICIAN],
        [u for u in users if u.role is Role.PATIENT],
    )


def accounts_with_teams() -> tuple[list[User], dict[int, list[User]]]:
    """Every account by role and name, and each patient's care team (its clinicians, by
    name; a deactivated one too, so the page can say so)."""
    users = db.session.scalars(select(User).order_by(User.role, User.name, User.id)).all()
    links = db.session.execute(select(CareTeamLink.clinician_id, CareTeamLink.patient_id)).all()
    by_id = {u.id: u for u in users}
    teams: dict[int, list[User]] = {}
    for clinician_id, patient_id in sorted(links, key=lambda link: by_id[link[0]].name):
        teams.setdefault(patient_id, []).append(by_id[clinician_id])
    return list(users), teams


def _account_action():
    return or_(
        AuditEvent.action.in_(ACCOUNT_ACTIONS),
        *(AuditEvent.action.startswith(p, autoescape=True) for p in ACCOUNT_ACTION_PREFIXES),
    )


def audit_trail(patient_id: int | None = None) -> AuditTrail:
    """Who did what to which account (newest first, at most AUDIT_PAGE_SIZE rows), for one
    patient or everyone; no clinical events."""
    patients = db.session.scalars(
        select(User).where(User.role == Role.PATIENT).order_by(User.name, User.id)
    ).all()
    query = (
        select(AuditEvent)
        .where(_account_action())
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    )
    if patient_id:
        query = query.where(AuditEvent.patient_id == patient_id)
    events = db.session.scalars(query.limit(AUDIT_PAGE_SIZE)).all()
    ids = {e.actor_id for e in events} | {e.patient_id for e in events}
    ids |= {e.object_id for e in events if e.object_type == "user"}
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    return AuditTrail(list(events), people, list(patients))
