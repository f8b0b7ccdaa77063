"""Use cases that touch the database. They take the acting user and plain inputs, raise
``ServiceError`` subclasses, and the top-level use case a view calls commits once (helpers
called by other services never commit): views never query or commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from taper.extensions import db

T = TypeVar("T")


class ServiceError(Exception):
    """A use case refused its input; ``field`` names the form field to show it beside."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Conflict(ServiceError):
    """The object changed since the user loaded it."""


def committed(use_case: Callable[..., T], *args, **kwargs) -> T:
    """Run a use case as one transaction: commit what it did, or, when it refuses
    (``ServiceError``), roll everything back and raise."""
    try:
        result = use_case(*args, **kwargs)
    except ServiceError:
        db.session.rollback()
        raise
    db.session.commit()
    return result
