"""Red flags: any one of these sends the patient to urgent care at once
(clinical-reference.md: ASAM 2025 Table 3, FDA 2020 boxed warning, Ashton Manual)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RedFlag:
    key: str
    label: str
    detail: str


RED_FLAGS: tuple[RedFlag, ...] = (
    RedFlag("seizure", "A seizure or fit", "Shaking or jerking with loss of awareness."),
    RedFlag("confusion", "Confusion", "Not knowing where you are, or what day it is."),
    RedFlag(
        "hallucinations",
        "Seeing or hearing things",
        "Things others don't see or hear, or feeling watched or persecuted.",
    ),
    RedFlag(
        "suicidal",
        "Thoughts of suicide or self-harm",
        "Thinking of ending your life or of hurting yourself.",
    ),
    RedFlag(
        "chest_pain",
        "Chest pain or a racing heart",
        "Chest pain, or a heart racing or pounding that won't settle.",
    ),
    RedFlag("agitation", "Severe agitation", "So agitated you cannot stay still."),
    RedFlag(
        "drowsy",
        "Very drowsy or slow breathing",
        "Very sleepy, hard to wake, or breathing slowly (especially with alcohol or opioids).",
    ),
)
_KEYS = {flag.key for flag in RED_FLAGS}


def parse_red_flags(keys: Iterable[str]) -> tuple[str, ...]:
    """Known red-flag keys, once each, in the list's order; anything else is dropped."""
    chosen = set(keys) & _KEYS
    return tuple(flag.key for flag in RED_FLAGS if flag.key in chosen)
