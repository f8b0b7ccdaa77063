"""Red flags: any one of these sends the patient to urgent care at once
(clinical-reference.md: ASAM 2025 Table 3, FDA 2020 boxed warning, Ashton Manual)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class RedFlag:
    """One red flag: its key, the checklist's label and detail, and how a note says it."""

    key: str
    label: str
    detail: str
    # "It sounds like you may have ... Is that right?" when a note seems to describe it.
    sounds_like: str


RED_FLAGS: tuple[RedFlag, ...] = (
    RedFlag(
        "seizure",
        "A seizure or fit",
        "Shaking or jerking with loss of awareness.",
        "had a seizure",
    ),
    RedFlag(
        "confusion",
        "Confusion",
        "Not knowing where you are, or what day it is.",
        "been confused about where you are or what day it is",
    ),
    RedFlag(
        "hallucinations",
        "Seeing or hearing things",
        "Things others don't see or hear, or feeling watched or persecuted.",
        "seen or heard things others don't, or felt watched",
    ),
    RedFlag(
        "suicidal",
        "Thoughts of suicide or self-harm",
        "Thinking of ending your life or of hurting yourself.",
        "had thoughts of ending your life or of hurting yourself",
    ),
    RedFlag(
        "chest_pain",
        "Chest pain or a racing heart",
        "Chest pain, or a heart racing or pounding that won't settle.",
        "had chest pain or a racing heart",
    ),
    RedFlag(
        "agitation",
        "Severe agitation",
        "So agitated you cannot stay still.",
        "been so agitated you could not stay still",
    ),
    RedFlag(
        "drowsy",
        "Very drowsy or slow breathing",
        "Very sleepy, hard to wake, or breathing slowly (especially with alcohol or opioids).",
        "been very drowsy, hard to wake, or breathing slowly",
    ),
    RedFlag(
        "overdose",
        "I took more than my prescribed dose",
        "Extra tablets, or more than your plan says, on purpose or by mistake.",
        "taken more than your prescribed dose",
    ),
    RedFlag(
        "fainting",
        "I fainted or collapsed",
        "Passed out or lost consciousness, even for a moment.",
        "fainted or collapsed",
    ),
    RedFlag(
        "breathing",
        "I have trouble breathing",
        "Hard to breathe, short of breath, or not getting enough air.",
        "had trouble breathing",
    ),
)
# Each flag's label by key: what pages, reports and e-mails show for a stored key.
LABELS: Mapping[str, str] = MappingProxyType({flag.key: flag.label for flag in RED_FLAGS})


# When the flags happened (the checklist asks "now, or since your last log?").
WHEN = {"now": "happening now", "past": "happened since the last log"}


def parse_when(text: str | None) -> str:
    """ "now", "past", or "" when not said (or not understood)."""
    return text if text in WHEN else ""


def labels(keys: Iterable[str]) -> str:
    """The flags' labels, comma-separated, in the list's order."""
    return ", ".join(LABELS.get(key, key) for key in keys)


def flags_of(keys: Iterable[str]) -> list[RedFlag]:
    """The red flags whose keys are given, once each, in the list's order; unknown keys are
    dropped."""
    chosen = set(keys)
    return [flag for flag in RED_FLAGS if flag.key in chosen]


def parse_red_flags(keys: Iterable[str]) -> tuple[str, ...]:
    """Known red-flag keys, once each, in the list's order; anything else is dropped."""
    return tuple(flag.key for flag in flags_of(keys))
