"""Jinja filters for showing clinical values exactly as stored."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import Flask, current_app

from taper.domain.doses import plain
from taper.domain.instrument import band_for
from taper.domain.schedule import local_today


def dose(value: Decimal | None) -> str:
    """A stored dose without padding zeros: 7.500 -> '7.5', 10.000 -> '10'."""
    return "" if value is None else plain(value)


def signed(value: Decimal | None, suffix: str = "") -> str:
    """A change for information, with its sign: '-2.5 mg', '+1 mg'."""
    if value is None:
        return "–"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{dose(abs(value))}{suffix}"


def long_date(value: date | None) -> str:
    """'Tuesday 3 March 2026'."""
    if value is None:
        return ""
    return f"{value:%A} {value.day} {value:%B %Y}"


def short_date(value: date | None) -> str:
    """'3 Mar 2026'."""
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y}"


def local_day(moment: datetime | None, tz_name: str) -> date | None:
    """The calendar day a stored (UTC) moment fell on in a time zone: a change saved at
    23:30 in New York is on that day there, whatever the UTC date."""
    return None if moment is None else local_today(moment, tz_name)


def urgent_text(text: str) -> str:
    """A configured urgent-care line with the configured numbers in it: {emergency},
    {crisis} and {poison} (plain replacement, so other braces in a clinic's text are kept)."""
    config = current_app.config
    for name, key in (
        ("emergency", "URGENT_EMERGENCY_NUMBER"),
        ("crisis", "URGENT_CRISIS_NUMBER"),
        ("poison", "URGENT_POISON_NUMBER"),
    ):
        text = text.replace("{" + name + "}", config[key])
    return text


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.add_template_filter(dose, "dose")
    app.add_template_filter(signed, "signed")
    app.add_template_filter(long_date, "long_date")
    app.add_template_filter(short_date, "short_date")
    app.add_template_filter(local_day, "local_day")
    app.add_template_filter(urgent_text, "urgent_text")
    app.add_template_global(band_for, "band_for")
