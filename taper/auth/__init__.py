"""Accounts' ways in: log in and out, passwords, set-password links, two-step login."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from taper.auth import twostep, views  # noqa: E402, F401  (routes on bp)
