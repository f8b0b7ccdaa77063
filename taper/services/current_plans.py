"""A patient's plans as the busiest pages read them (Today, the daily log, the chart): one
statement for the plans with their current revision's header, and each revision's steps from a
per-process cache.

A saved revision never changes (``taper.models.plan`` refuses updates and deletes of revisions
and steps), so its steps can be kept for as long as the process lives. They are keyed by the
revision's id *and* its creation time, so a revision id that a rolled-back transaction used and
SQLite then gave to another revision is never mistaken for the first one."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from flask import current_app
from sqlalchemy import Insert, Select, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from taper.domain.schedule import TIMES_OF_DAY, StepInput
from taper.domain.timeline import Hold, PlanSchedule
from taper.extensions import db
from taper.models import PlanReceipt, PlanRevision, PlanStatus, TaperPlan, TaperStep, User
from taper.models.types import utc_now

# Per process: about 2 kB for a typical revision, so some 4 MB with CACHE_SIZE of them, and
# never more than CACHE_BYTES however long the notes (about a step's note plus 100 bytes each).
CACHE_SIZE = 2048
CACHE_BYTES = 16 * 1024 * 1024
RUNNING = (PlanStatus.ACTIVE, PlanStatus.PAUSED)
NOT_DRAFT = (PlanStatus.ACTIVE, PlanStatus.PAUSED, PlanStatus.COMPLETED)
_Key = tuple[int, datetime]


@dataclass(frozen=True)
class Revision:
    """A saved revision as a patient sees it: who saved it, when, why, its hold and steps."""

    id: int
    number: int
    created_at: datetime
    reason: str
    author_name: str
    hold: Hold | None
    steps: tuple[StepInput, ...]


@dataclass(frozen=True)
class CurrentPlan:
    """A plan with its current revision (None only for a plan never saved with steps), and
    the revision the patient last saw (None: never)."""

    id: int
    medication: str
    unit: str
    status: PlanStatus
    revision: Revision | None
    seen_revision_id: int | None
    completed_on: date | None = None

    @property
    def schedule(self) -> PlanSchedule:
        """The plan as the timeline sees it (``plans.schedule_of`` for the ORM plan)."""
        revision = self.revision
        return PlanSchedule(
            plan_id=self.id,
            medication=self.medication,
            unit=self.unit,
            running=self.status in RUNNING,
            steps=revision.steps if revision is not None else (),
            hold=revision.hold if revision is not None else None,
            ended_on=self.completed_on,
        )


class _StepCache:
    """Least-recently-used steps of saved revisions, shared by the threads of one process."""

    def __init__(self, size: int, max_bytes: int = CACHE_BYTES) -> None:
        self.size, self.max_bytes, self.bytes = size, max_bytes, 0
        self.lock = threading.Lock()
        self.entries: OrderedDict[_Key, tuple[StepInput, ...]] = OrderedDict()

    @staticmethod
    def weight(steps: tuple[StepInput, ...]) -> int:
        """About the memory a revision's steps take."""
        return sum(100 + len(step.note) for step in steps)

    def get_many(self, keys: Iterable[_Key]) -> dict[_Key, tuple[StepInput, ...]]:
        found = {}
        with self.lock:
            for key in keys:
                steps = self.entries.get(key)
                if steps is not None:
                    self.entries.move_to_end(key)
                    found[key] = steps
        return found

    def put_many(self, items: dict[_Key, tuple[StepInput, ...]]) -> None:
        with self.lock:
            for key, steps in items.items():
                if key in self.entries:
                    self.bytes -= self.weight(self.entries.pop(key))
                self.entries[key] = steps
                self.bytes += self.weight(steps)
            while self.entries and (len(self.entries) > self.size or self.bytes > self.max_bytes):
                self.bytes -= self.weight(self.entries.popitem(last=False)[1])


def _cache() -> _StepCache:
    """This app's cache (each app has its own: the test suite makes one per database)."""
    extensions = current_app.extensions
    cache = extensions.get("taper.revision_steps")
    if cache is None:
        cache = extensions.setdefault("taper.revision_steps", _StepCache(CACHE_SIZE))
    return cache


def revision_steps(keys: Iterable[_Key]) -> dict[_Key, tuple[StepInput, ...]]:
    """The steps of saved revisions, by (revision id, created at), oldest step first; one
    statement for those not cached yet."""
    keys = set(keys)
    cache = _cache()
    found = cache.get_many(keys)
    missing = {key[0]: key for key in keys - found.keys()}
    if missing:
        loaded: dict[_Key, list[StepInput]] = {key: [] for key in missing.values()}
        rows = db.session.execute(
            select(
                TaperStep.revision_id,
                TaperStep.start_date,
                TaperStep.total,
                TaperStep.note,
                *(getattr(TaperStep, name) for name in TIMES_OF_DAY),
            )
            .where(TaperStep.revision_id.in_(missing))
            .order_by(TaperStep.revision_id, TaperStep.start_date)
        )
        for revision_id, start, total, note, *parts in rows:
            split = tuple(
                (name, part)
                for name, part in zip(TIMES_OF_DAY, parts, strict=True)
                if part is not None
            )
            loaded[missing[revision_id]].append(StepInput(start, total, split, note))
        fresh = {key: tuple(steps) for key, steps in loaded.items()}
        cache.put_many(fresh)
        found.update(fresh)
    return found


@cache
def _statement(statuses: tuple[PlanStatus, ...]) -> Select:
    """Built once per process: only the patient id changes (:patient_id), so SQLAlchemy
    neither builds nor keys it again on each page."""
    return (
        select(
            TaperPlan.id,
            TaperPlan.medication,
            TaperPlan.unit,
            TaperPlan.status,
            PlanRevision.id,
            PlanRevision.number,
            PlanRevision.created_at,
            PlanRevision.reason,
            User.name,
            PlanRevision.hold_start,
            PlanRevision.hold_until,
            PlanRevision.hold_kind,
            PlanRevision.hold_shift,
            PlanReceipt.revision_id,
            TaperPlan.completed_on,
        )
        .outerjoin(PlanRevision, PlanRevision.id == TaperPlan.current_revision_id)
        .outerjoin(User, User.id == PlanRevision.author_id)
        .outerjoin(PlanReceipt, PlanReceipt.plan_id == TaperPlan.id)
        .where(TaperPlan.patient_id == bindparam("patient_id"), TaperPlan.status.in_(statuses))
        .order_by(TaperPlan.created_at, TaperPlan.id)
    )


def current_plans(patient: User, statuses: tuple[PlanStatus, ...] = RUNNING) -> list[CurrentPlan]:
    """The patient's plans in ``statuses`` (running ones by default), oldest first, each with
    its current revision: one statement, plus one for steps not cached yet."""
    # On the session's connection (a Core read, 0.05 ms cheaper than through the ORM), so
    # flush first as the ORM would have: a caller's pending plan rows must show.
    db.session.flush()
    rows = db.session.connection().execute(_statement(statuses), {"patient_id": patient.id}).all()
    steps = revision_steps((row[4], row[6]) for row in rows if row[4] is not None)
    plans = []
    for (
        plan_id,
        medication,
        unit,
        status,
        revision_id,
        number,
        created_at,
        reason,
        author_name,
        hold_start,
        hold_until,
        hold_kind,
        hold_shift,
        seen,
        completed_on,
    ) in rows:
        revision = None
        if revision_id is not None:
            revision = Revision(
                revision_id,
                number,
                created_at,
                reason,
                author_name or "",
                Hold.stored(hold_start, hold_until, hold_kind, hold_shift),
                steps[(revision_id, created_at)],
            )
        plans.append(CurrentPlan(plan_id, medication, unit, status, revision, seen, completed_on))
    return plans


def schedules(patient: User) -> list[PlanSchedule]:
    """Every non-draft plan of the patient as the timeline sees it, oldest first."""
    return [plan.schedule for plan in current_plans(patient, NOT_DRAFT)]


def mark_seen(patient: User, plans: list[CurrentPlan]) -> set[int]:
    """Ids of the plans whose current revision the patient had not seen; marks them seen (a
    receipt kept apart from the plan row, so a patient's visit never collides with a
    clinician's edit). Writes only when something is new: one insert-or-update, so two visits
    at once (two tabs, a double tap) both succeed instead of one failing on the other's row."""
    unseen = {
        p.id: p.revision.id
        for p in plans
        if p.revision is not None and p.seen_revision_id != p.revision.id
    }
    if unseen:
        now = utc_now()
        connection = db.session.connection()
        connection.execute(
            _upsert_receipts(connection.dialect.name),
            [
                {"plan_id": plan, "patient_id": patient.id, "revision_id": revision, "at": now}
                for plan, revision in unseen.items()
            ],
        )
    return set(unseen)


@cache
def _upsert_receipts(dialect: str) -> Insert:
    """INSERT … ON CONFLICT (plan_id) DO UPDATE, in PostgreSQL's or SQLite's words (both
    have it; SQLAlchemy spells it per dialect)."""
    table = PlanReceipt.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(
        plan_id=bindparam("plan_id"),
        patient_id=bindparam("patient_id"),
        revision_id=bindparam("revision_id"),
        seen_at=bindparam("at"),
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.plan_id],
        set_={"revision_id": statement.excluded.revision_id, "seen_at": statement.excluded.seen_at},
    )
