"""Locking the rows a use case decides on, so two requests at once decide one after the other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import ColumnElement, select, update

from taper.extensions import db

M = TypeVar("M")


def lock(model: type[M], rows: ColumnElement[bool], unchanged: Sequence[str]) -> list[M]:
    """Lock the rows of ``model`` that ``rows`` selects and reload them, so what is decided
    next is decided on what is stored now: a second request waits for the first's commit,
    then sees its change. PostgreSQL locks the rows (FOR UPDATE, in id order, so two such
    requests never deadlock); SQLite, which has no row locks, takes its write lock at an
    UPDATE that sets ``unchanged`` columns (ones the app may update; any ``updated_at`` among
    them keeps its value) to themselves."""
    db.session.execute(select(model.id).where(rows).order_by(model.id).with_for_update()).all()
    db.session.execute(
        update(model)
        .where(rows)
        .values({name: getattr(model, name) for name in unchanged})
        .execution_options(synchronize_session=False)
    )
    query = select(model).where(rows).execution_options(populate_existing=True)
    return list(db.session.scalars(query.order_by(model.id)))
