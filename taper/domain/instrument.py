"""Symptom scales as data: items, answer anchors, range and severity bands.

CIWA-B (Busto, Sykora & Sellers 1989): 20 items scored 0-4, 4 always the worst; 17 rated by
the patient, 3 observed by a clinician. Questions are in our own plain words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """A symptom scale: its items, answer anchors, answer range and severity bands."""

    code: str
    name: str
    items: tuple[Item, ...]
    anchors: tuple[str, ...]
    bands: tuple[Band, ...]
    min_value: int = 0
    max_value: int = 4

    @property
    def patient_items(self) -> tuple[Item, ...]:
        """The items the patient rates, in scale order."""
        return tuple(i for i in self.items if i.rater == "patient")

    @property
    def observer_items(self) -> tuple[Item, ...]:
        """The items a clinician observes, in scale order."""
        return tuple(i for i in self.items if i.rater == "observer")

    @property
    def patient_max(self) -> int:
        """The highest patient-rated subtotal (68 for CIWA-B)."""
        return len(self.patient_items) * self.max_value

    @property
    def total_max(self) -> int:
        """The highest full-scale total (80 for CIWA-B)."""
        return len(self.items) * self.max_value

    @property
    def patient_bands(self) -> tuple[Band, ...]:
        """The severity bands of the patient-rated subtotal (0 to ``patient_max``): the same
        cut-offs as the full scale's, the last band ending at ``patient_max``."""
        top = self.patient_max
        return tuple(
            Band(band.low, min(band.high, top), band.label)
            for band in self.bands
            if band.low <= top
        )


@dataclass(frozen=True)
class Band:
    """A severity band: totals from ``low`` to ``high`` (inclusive) share its label."""

    low: int
    high: int
    label: str

    def covers(self, value: int) -> bool:
        """True when ``value`` is in this band."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Item:
    """One question of a scale, with the short label charts use for it.

    ``question`` is the plain question without a time frame (the clinician's visit form
    uses it); ``worded`` adds the time frame of the day being logged. ``frame``: "day" (a
    symptom since yesterday), "night" (sleep: last night) or "visit" (observed at a visit).
    ``past``: the question in the past tense, for a day gone by ("How irritable did you
    feel")."""

    key: str
    number: int
    question: str
    rater: str  # "patient" | "observer"
    short: str
    frame: str = "visit"  # "day" | "night" | "visit"
    past: str = ""

    def worded(self, offset: int = 0, on: str = "") -> str:
        """The question for the day ``offset`` days before today (0 today, 1 yesterday, 2 the
        day before), with its time frame; ``on`` names that day for an offset of 2 or more
        ("Tuesday 1 December"). "How irritable have you felt since yesterday?", "How
        irritable did you feel yesterday?", "How unrestful was your sleep the night before?"."""
        stem = self.question.rstrip("?")
        if self.frame == "night":
            return f"{stem} {night_words(offset, on)}?"
        if self.frame == "day":
            if offset <= 0:
                return f"{stem} since yesterday?"
            return f"{self.past or stem} {day_words(offset, on)}?"
        return self.question


def day_words(offset: int, on: str = "") -> str:
    """A past day as a question names it: "today", "yesterday", "on Tuesday 1 December"."""
    if offset <= 0:
        return "today"
    if offset == 1:
        return "yesterday"
    return f"on {on}" if on else "on the day before yesterday"


def night_words(offset: int, on: str = "") -> str:
    """The night before the day logged: "last night" for today, "the night before" for
    yesterday, "the night before Tuesday 1 December" for an earlier day."""
    if offset <= 0:
        return "last night"
    if offset == 1:
        return "the night before"
    return f"the night before {on}" if on else "the night before the day before yesterday"


# The short label of each item, for charts (the heatmap's rows).
SHORT_LABELS = {
    "irritable": "Irritable",
    "fatigued": "Tired",
    "tense": "Tense",
    "concentration": "Concentration",
    "appetite": "Appetite loss",
    "numbness": "Numbness",
    "palpitations": "Heart racing",
    "head": "Head full/achy",
    "muscles": "Muscle aches",
    "anxious": "Anxious",
    "upset": "Upset",
    "sleep_not_restful": "Sleep not restful",
    "weak": "Weak",
    "sleep_too_little": "Too little sleep",
    "vision": "Vision",
    "fearful": "Fearful",
    "worry": "Worry",
    "restless": "Restless",
    "tremor": "Tremor",
    "sweating": "Sweating",
}


def _items(rows: list[tuple[str, str, str, str, str]]) -> tuple[Item, ...]:
    return tuple(
        Item(key, n, question, rater, SHORT_LABELS[key], frame, past)
        for n, (key, question, past, frame, rater) in enumerate(rows, start=1)
    )


CIWA_B = Scale(
    code="ciwa-b",
    name="CIWA-B",
    items=_items(
        [
            # key, the question (no time frame), the same in the past tense, frame, rater
            (
                "irritable",
                "How irritable have you felt?",
                "How irritable did you feel",
                "day",
                "patient",
            ),
            (
                "fatigued",
                "How tired or worn out have you felt?",
                "How tired or worn out did you feel",
                "day",
                "patient",
            ),
            ("tense", "How tense have you felt?", "How tense did you feel", "day", "patient"),
            (
                "concentration",
                "How hard has it been to concentrate?",
                "How hard was it to concentrate",
                "day",
                "patient",
            ),
            (
                "appetite",
                "How much have you lost your appetite?",
                "How much did you lose your appetite",
                "day",
                "patient",
            ),
            (
                "numbness",
                "How much numbness or burning have you felt in your face, hands or feet?",
                "How much numbness or burning did you feel in your face, hands or feet",
                "day",
                "patient",
            ),
            (
                "palpitations",
                "How much has your heart been racing or pounding?",
                "How much was your heart racing or pounding",
                "day",
                "patient",
            ),
            (
                "head",
                "How full or achy has your head felt?",
                "How full or achy did your head feel",
                "day",
                "patient",
            ),
            (
                "muscles",
                "How achy or stiff have your muscles been?",
                "How achy or stiff were your muscles",
                "day",
                "patient",
            ),
            (
                "anxious",
                "How anxious, nervous or jittery have you felt?",
                "How anxious, nervous or jittery did you feel",
                "day",
                "patient",
            ),
            ("upset", "How upset have you felt?", "How upset did you feel", "day", "patient"),
            ("sleep_not_restful", "How unrestful was your sleep?", "", "night", "patient"),
            ("weak", "How weak have you felt?", "How weak did you feel", "day", "patient"),
            (
                "sleep_too_little",
                "How much less than you needed did you sleep?",
                "",
                "night",
                "patient",
            ),
            (
                "vision",
                "How much trouble have you had with your eyes (light hurts, blurred vision)?",
                "How much trouble did you have with your eyes (light hurts, blurred vision)",
                "day",
                "patient",
            ),
            ("fearful", "How fearful have you felt?", "How fearful did you feel", "day", "patient"),
            (
                "worry",
                "How much have you worried that something bad will happen?",
                "How much did you worry that something bad would happen",
                "day",
                "patient",
            ),
            ("restless", "Restlessness and agitation (observed)", "", "visit", "observer"),
            ("tremor", "Tremor, arms out and fingers spread (observed)", "", "visit", "observer"),
            ("sweating", "Sweating, palms (observed)", "", "visit", "observer"),
        ]
    ),
    anchors=("Not at all", "A little", "Moderately", "Quite a bit", "Very much so"),
    bands=(
        Band(0, 0, "none"),
        Band(1, 20, "mild"),
        Band(21, 40, "moderate"),
        Band(41, 60, "severe"),
        Band(61, 80, "very severe"),
    ),
)


class AnswerError(ValueError):
    """Answers that cannot be scored; ``errors`` maps item keys to plain messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_answers(
    scale: Scale, raw: Mapping[str, object], *, rater_set: str = "patient"
) -> dict[str, int]:
    """Every required item as a whole number in the scale's range; unknown keys are ignored."""
    items = scale.patient_items if rater_set == "patient" else scale.items
    message = (
        f"Choose an answer from {scale.min_value} ({scale.anchors[0]}) to "
        f"{scale.max_value} ({scale.anchors[-1]})."
    )
    answers: dict[str, int] = {}
    errors: dict[str, str] = {}
    for item in items:
        value = raw.get(item.key)
        if isinstance(value, bool) or value is None:
            errors[item.key] = message
            continue
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()) or not (
            scale.min_value <= int(text) <= scale.max_value
        ):
            errors[item.key] = message
            continue
        answers[item.key] = int(text)
    if errors:
        raise AnswerError(errors)
    return answers


def total(answers: Mapping[str, int] | None) -> int | None:
    """The sum of the answers (None when there are none)."""
    return None if answers is None else sum(answers.values())


def patient_band(scale: Scale, value: int) -> Band:
    """The severity band of a patient-rated subtotal (0 to ``patient_max``)."""
    for band in scale.patient_bands:
        if band.covers(value):
            return band
    raise ValueError(f"{value} is outside 0-{scale.patient_max}")


def band_for(scale: Scale, value: int) -> Band:
    """The severity band of a full-scale total."""
    for band in scale.bands:
        if band.covers(value):
            return band
    raise ValueError(f"{value} is outside 0-{scale.total_max}")
