"""Typed SQLAlchemy models. Importing this package registers every table."""

from taper.models import append_only as _append_only  # noqa: F401,E402  (triggers)
from taper.models.alert import Alert, AlertSettings, AlertStatus, OutboxMessage
from taper.models.audit import AuditEvent
from taper.models.log import DailyLog, LogDose, RedFlagReport, VisitAssessment
from taper.models.plan import (
    COMMON_MEDICATIONS,
    PlanReceipt,
    PlanRevision,
    PlanStatus,
    TaperPlan,
    TaperStep,
)
from taper.models.reminder import ReminderSent
from taper.models.twofactor import TwoFactor
from taper.models.user import CareTeamLink, Role, User, find_user_by_email, normalise_email

__all__ = [
    "COMMON_MEDICATIONS",
    "Alert",
    "AlertSettings",
    "AlertStatus",
    "DailyLog",
    "LogDose",
    "OutboxMessage",
    "RedFlagReport",
    "ReminderSent",
    "VisitAssessment",
    "AuditEvent",
    "CareTeamLink",
    "PlanReceipt",
    "PlanRevision",
    "PlanStatus",
    "Role",
    "TaperPlan",
    "TaperStep",
    "TwoFactor",
    "User",
    "find_user_by_email",
    "normalise_email",
]
