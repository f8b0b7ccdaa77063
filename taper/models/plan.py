"""Taper plans as clinicians write them: a plan, its immutable revisions and their steps."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from taper.domain.schedule import TIMES_OF_DAY
from taper.extensions import db
from taper.models.types import UTCDateTime, utc_now

DOSE = Numeric(10, 3)  # Decimal, never float: doses are shown exactly as typed
COMMON_MEDICATIONS = (
    "alprazolam",
    "bromazepam",
    "chlordiazepoxide",
    "clobazam",
    "clonazepam",
    "clorazepate",
    "diazepam",
    "estazolam",
    "flurazepam",
    "lorazepam",
    "nitrazepam",
    "oxazepam",
    "temazepam",
    "triazolam",
)


class PlanStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class TaperPlan(db.Model):
    """One medication's taper for one patient. Two may run at once (a crossover)."""

    __tablename__ = "taper_plan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    medication: Mapped[str] = mapped_column(String(80))
    unit: Mapped[str] = mapped_column(String(8), default="mg")
    status: Mapped[PlanStatus] = mapped_column(
        Enum(
            PlanStatus,
            name="plan_status",
            native_enum=False,
            length=16,
            values_callable=lambda s: [x.value for x in s],
        ),
        default=PlanStatus.DRAFT,
    )
    current_revision_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_revision.id", use_alter=True, name="fk_taper_plan_current_revision")
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)
    # The patient's day the plan was completed: the days before it stay the plan's own (a
    # log of yesterday still asks about its dose). None for plans completed before 0013.
    completed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # The number of the revision in force when the plan was activated: the ones before it
    # were replaced while it was a draft and never ran. None for plans activated before 0014
    # where the audit trail did not tell.
    activated_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The new-plan form's one-time id: the same form sent twice saves one plan (F2).
    submission_id: Mapped[str | None] = mapped_column(String(36), unique=True, nullable=True)
    # Optimistic locking: a stale save fails instead of overwriting (SECURITY.md F3).
    version: Mapped[int] = mapped_column(Integer, default=1)

    patient = relationship("User", foreign_keys=[patient_id])
    current_revision: Mapped[PlanRevision | None] = relationship(
        foreign_keys=[current_revision_id], post_update=True
    )
    revisions: Mapped[list[PlanRevision]] = relationship(
        back_populates="plan",
        foreign_keys="PlanRevision.plan_id",
        order_by="PlanRevision.number",
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (CheckConstraint("version >= 1", name="version_positive"),)

    def never_ran(self, revision: PlanRevision) -> bool:
        """Whether one of this plan's revisions was never in force: the plan is still a draft,
        or the revision was replaced before the plan was activated."""
        if self.status is PlanStatus.DRAFT:
            return True
        return self.activated_revision is not None and revision.number < self.activated_revision


class PlanRevision(db.Model):
    """An immutable snapshot of a plan's steps, with who saved it, when and why."""

    __tablename__ = "plan_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("taper_plan.id"))
    number: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    reason: Mapped[str] = mapped_column(Text, default="")
    # A hold (or pause) keeps the dose in force on hold_start until hold_until (inclusive) or,
    # when hold_until is empty, until a clinician reviews it (taper.domain.timeline).
    # hold_shift: the days it moved the later steps, so its end can change without losing
    # where they were.
    hold_start: Mapped[date | None] = mapped_column(Date)
    hold_until: Mapped[date | None] = mapped_column(Date)
    hold_kind: Mapped[str | None] = mapped_column(String(8))
    hold_shift: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    plan: Mapped[TaperPlan] = relationship(back_populates="revisions", foreign_keys=[plan_id])
    author = relationship("User", foreign_keys=[author_id])
    steps: Mapped[list[TaperStep]] = relationship(
        back_populates="revision", order_by="TaperStep.start_date"
    )

    __table_args__ = (
        UniqueConstraint("plan_id", "number", name="uq_plan_revision_number"),
        CheckConstraint(
            "hold_until IS NULL OR (hold_start IS NOT NULL AND hold_until >= hold_start)",
            name="hold_dates",
        ),
        CheckConstraint(
            "hold_kind IS NULL OR hold_kind IN ('hold', 'pause')", name="hold_kind_known"
        ),
        CheckConstraint("hold_shift >= 0", name="hold_shift_not_negative"),
    )


class TaperStep(db.Model):
    """A step as the clinician typed it: from start_date, this total daily dose."""

    __tablename__ = "taper_step"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("plan_revision.id"))
    start_date: Mapped[date] = mapped_column(Date)
    total: Mapped[Decimal] = mapped_column(DOSE)
    morning: Mapped[Decimal | None] = mapped_column(DOSE)
    midday: Mapped[Decimal | None] = mapped_column(DOSE)
    evening: Mapped[Decimal | None] = mapped_column(DOSE)
    bedtime: Mapped[Decimal | None] = mapped_column(DOSE)
    note: Mapped[str] = mapped_column(Text, default="")

    revision: Mapped[PlanRevision] = relationship(back_populates="steps")

    __table_args__ = (
        UniqueConstraint("revision_id", "start_date", name="uq_taper_step_date"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint(
            "(morning IS NULL OR morning >= 0) AND (midday IS NULL OR midday >= 0) AND "
            "(evening IS NULL OR evening >= 0) AND (bedtime IS NULL OR bedtime >= 0)",
            name="parts_not_negative",
        ),
    )

    def split(self) -> tuple[tuple[str, Decimal], ...]:
        """The parts of the day the clinician filled in, in day order."""
        return tuple(
            (name, getattr(self, name)) for name in TIMES_OF_DAY if getattr(self, name) is not None
        )


class PlanReceipt(db.Model):
    """The revision of a plan the patient last saw, for the "your plan changed" notice."""

    __tablename__ = "plan_receipt"

    plan_id: Mapped[int] = mapped_column(ForeignKey("taper_plan.id"), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("plan_revision.id"))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)


class RevisionIsImmutable(RuntimeError):
    """Raised when code tries to change or delete a saved revision or one of its steps."""


@event.listens_for(PlanRevision, "before_update")
@event.listens_for(TaperStep, "before_update")
def _refuse_update(_mapper, _connection, target) -> None:
    """A revision is what the clinician saved: a change is a new revision (SECURITY.md F4).
    Adding steps to a revision being written is not a change to a saved row."""
    if object_session(target).is_modified(target, include_collections=False):
        raise RevisionIsImmutable(f"{type(target).__name__} {target.id} cannot be changed")


@event.listens_for(PlanRevision, "before_delete")
@event.listens_for(TaperStep, "before_delete")
def _refuse_delete(_mapper, _connection, target) -> None:
    raise RevisionIsImmutable(f"{type(target).__name__} {target.id} cannot be deleted")
