"""Background jobs: the outbox, the alert scan and reminders (issue 16; being written)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The job queue (Redis), or the in-process timer without Redis."""
