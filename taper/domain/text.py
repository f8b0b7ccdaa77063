"""Free text a person typed: which characters can never be stored."""

from __future__ import annotations

import re

# Control characters other than tab and line breaks: never typed, and PostgreSQL refuses NUL.
UNSAVABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
