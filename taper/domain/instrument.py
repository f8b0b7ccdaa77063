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
    """One question of a scale, with the short label charts use for it."""

    key: str
    number: int
    question: str
    rater: str  # "patient" | "observer"
    short: str


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


def _items(rows: list[tuple[str, str, str]]) -> tuple[Item, ...]:
    return tuple(
        Item(key, n, question, rater, SHORT_LABELS[key])
        for n, (key, question, rater) in enumerate(rows, start=1)
    )


CIWA_B = Scale(
    code="ciwa-b",
    name="CIWA-B",
    items=_items(
        [
            ("irritable", "How irritable have you felt?", "patient"),
            ("fatigued", "How tired or worn out have you felt?", "patient"),
            ("tense", "How tense have you felt?", "patient"),
            ("concentration", "How hard has it been to concentrate?", "patient"),
            ("appetite", "How much have you lost your appetite?", "patient"),
            (
                "numbness",
                "How much numbness or burning have you felt in your face, hands or feet?",
                "patient",
            ),
            ("palpitations", "How much has your heart been racing or pounding?", "patient"),
            ("head", "How full or achy has your head felt?", "patient"),
            ("muscles", "How achy or stiff have your muscles been?", "patient"),
            ("anxious", "How anxious, nervous or jittery have you felt?", "patient"),
            ("upset", "How upset have you felt?", "patient"),
            ("sleep_not_restful", "How unrestful was your sleep last night?", "patient"),
            ("weak", "How weak have you felt?", "patient"),
            ("sleep_too_little", "How much too little did you sleep last night?", "patient"),
            ("vision", "How much trouble with your eyes (light hurts, blurred vision)?", "patient"),
            ("fearful", "How fearful have you felt?", "patient"),
            ("worry", "How much have you worried that something bad will happen?", "patient"),
            ("restless", "Restlessness and agitation (observed)", "observer"),
            ("tremor", "Tremor, arms out and fingers spread (observed)", "observer"),
            ("sweating", "Sweating, palms (observed)", "observer"),
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


def band_for(scale: Scale, value: int) -> Band:
    """The severity band of a full-scale total."""
    for band in scale.bands:
        if band.covers(value):
            return band
    raise ValueError(f"{value} is outside 0-{scale.total_max}")
