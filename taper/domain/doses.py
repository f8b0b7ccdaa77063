"""Plausible daily doses: an "are you sure?" check on what a clinician or patient typed.

Pure Python. For each medication the plan editor offers (``taper.models.plan.
COMMON_MEDICATIONS``), the highest daily dose (adult, oral, in mg) that its labels allow,
from the US FDA label or the British National Formulary (BNF) / UK SmPC, whichever is higher:
generous on purpose. A dose above it is not refused: the clinician (or the patient, for a
dose taken) is asked to confirm it. Only nonsense, more than ``CEILING_FACTOR`` times the
maximum, is refused. Nothing here ever produces a dose: the numbers are only compared with
a dose someone typed, and the messages never name one other than what was typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

UNIT = "mg"
CEILING_FACTOR = 10  # above this many times the usual maximum, a typed dose is refused
PLAN_FACTOR = 2  # a patient's dose taken above this many times the plan's is asked about
SOURCE = "the highest daily dose in its FDA label or the BNF"


@dataclass(frozen=True)
class Plausible:
    """The highest plausible daily dose of one medication, in mg."""

    medication: str
    max_daily: Decimal


# Highest labelled adult daily dose, mg a day; the source of each beside it.
PLAUSIBLE_MAX: dict[str, Decimal] = {
    # FDA Xanax label: panic disorder, occasionally up to 10 mg a day.
    "alprazolam": Decimal("10"),
    # Lexotan SmPC (no FDA label; not in the BNF): up to 60 mg a day in hospital in-patients.
    "bromazepam": Decimal("60"),
    # FDA Librium label: acute alcohol withdrawal, up to 300 mg a day (BNF: 250 mg).
    "chlordiazepoxide": Decimal("300"),
    # BNF / UK SmPC: epilepsy and severe anxiety in in-patients, up to 60 mg a day
    # (FDA Onfi label: 40 mg a day).
    "clobazam": Decimal("60"),
    # FDA Klonopin label and BNF: seizure disorders, at most 20 mg a day.
    "clonazepam": Decimal("20"),
    # FDA Tranxene label: partial seizures and alcohol withdrawal, up to 90 mg a day.
    "clorazepate": Decimal("90"),
    # BNF: spasticity, increased if necessary up to 60 mg a day (FDA Valium label: 10 mg
    # 3 or 4 times a day, 40 mg).
    "diazepam": Decimal("60"),
    # FDA ProSom label: 1 to 2 mg at bedtime.
    "estazolam": Decimal("2"),
    # FDA Dalmane label: 15 to 30 mg at bedtime.
    "flurazepam": Decimal("30"),
    # FDA Ativan label: 1 to 10 mg a day in divided doses.
    "lorazepam": Decimal("10"),
    # BNF / Mogadon SmPC: insomnia, 5 to 10 mg at bedtime.
    "nitrazepam": Decimal("10"),
    # FDA label: severe anxiety and alcohol withdrawal, 15 to 30 mg 3 or 4 times a day
    # (120 mg); BNF the same.
    "oxazepam": Decimal("120"),
    # BNF: insomnia, up to 40 mg in exceptional circumstances (FDA Restoril label: 30 mg).
    "temazepam": Decimal("40"),
    # FDA Halcion label: at most 0.5 mg at bedtime.
    "triazolam": Decimal("0.5"),
}


# Brand names (the labels cited above, and common UK and European ones) of the same drugs: a
# plan typed as "Valium" is checked as diazepam.
BRANDS: dict[str, str] = {
    "xanax": "alprazolam",
    "lexotan": "bromazepam",
    "lexotanil": "bromazepam",
    "librium": "chlordiazepoxide",
    "frisium": "clobazam",
    "onfi": "clobazam",
    "klonopin": "clonazepam",
    "rivotril": "clonazepam",
    "tranxene": "clorazepate",
    "valium": "diazepam",
    "prosom": "estazolam",
    "dalmane": "flurazepam",
    "ativan": "lorazepam",
    "mogadon": "nitrazepam",
    "serax": "oxazepam",
    "restoril": "temazepam",
    "halcion": "triazolam",
}


def plausible(medication: str | None, unit: str = UNIT) -> Plausible | None:
    """The table's row for a medication as typed ("Diazepam", "diazepam (Valium)", "Valium"),
    or None when the name is not in the table or the unit is not mg. Two names in one: the
    higher."""
    if unit != UNIT:
        return None
    words = {BRANDS.get(w, w) for w in re.findall(r"[a-z]+", (medication or "").lower())}
    found = [(PLAUSIBLE_MAX[name], name) for name in words if name in PLAUSIBLE_MAX]
    if not found:
        return None
    most, name = max(found)
    return Plausible(name, most)


def plain(value: Decimal) -> str:
    """A dose as typed, without padding zeros and never in exponent form: 7.500 → "7.5",
    10.000 → "10"."""
    return f"{value.normalize():f}"


def amount(value: Decimal, unit: str = UNIT) -> str:
    """A dose as typed, without trailing zeros: 7.50 → "7.5 mg"."""
    return f"{plain(value)} {unit}"


@dataclass(frozen=True)
class DoseCheck:
    """What to say about a typed daily dose: ``refused`` (nonsense: cannot be saved) or not
    (above the usual maximum: saved once confirmed)."""

    refused: bool
    message: str


def check_daily_dose(medication: str | None, total: Decimal, unit: str = UNIT) -> DoseCheck | None:
    """A clinician's daily dose against the table: None when usual (or the medication is not
    in the table), a question above the usual maximum, a refusal above ``CEILING_FACTOR``
    times it."""
    row = plausible(medication, unit)
    if row is None or total <= row.max_daily:
        return None
    if total > row.max_daily * CEILING_FACTOR:
        return DoseCheck(
            True,
            f"{amount(total, unit)} a day is more than {CEILING_FACTOR} times the usual "
            f"maximum for {row.medication} ({SOURCE}). Check the number: a dose this large "
            "cannot be saved.",
        )
    return DoseCheck(
        False,
        f"{amount(total, unit)} a day is above the usual maximum for {row.medication} "
        f"({SOURCE}). Tick to confirm this dose is right.",
    )


def far_above_plan(
    taken: Decimal, scheduled: Decimal, medication: str | None, unit: str = UNIT
) -> bool:
    """A dose a patient says they took that is worth asking about: more than ``PLAN_FACTOR``
    times the dose in their plan that day, or above the usual maximum for the medication."""
    if scheduled > 0 and taken > scheduled * PLAN_FACTOR:
        return True
    row = plausible(medication, unit)
    return row is not None and taken > row.max_daily
