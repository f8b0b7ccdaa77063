"""Request ids, structured JSON logs and Prometheus metrics (issue 16; being written)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire logging and metrics into the app."""
