"""A patient's taper record as one FHIR R4B Bundle (``application/fhir+json``), for an EHR.

What goes in (README "Exports"):

- ``Patient``; a ``Practitioner`` for every clinician named anywhere in the record;
- a ``Questionnaire`` for the 17 patient-rated CIWA-B items and one for the visit form (20);
- one ``MedicationRequest`` per plan revision, one ``dosageInstruction`` per typed step (and
  per part of the day where the clinician split it), with the days in force after holds and
  pauses (``timeline.step_periods``);
- per logged day (the version in force): a ``QuestionnaireResponse`` with the answers' codes,
  an ``Observation`` for the total (and one for sleep hours) derived from it, and a
  ``MedicationStatement`` per plan asked about that day;
- per visit assessment: a ``QuestionnaireResponse`` and an ``Observation`` for its total;
- per alert: a ``DetectedIssue`` (who acknowledged and resolved it, and when, as mitigations),
  and a ``Flag`` for every urgent alert not yet resolved.

Every entry's ``fullUrl`` is a ``urn:uuid`` made from the app's ``PUBLIC_URL`` and the
resource's id, so ids and references are the same in every export of the same record, and
every reference points at an entry of the same Bundle.

The Bundle is written one entry at a time (``bundle_chunks``), so a long record streams and is
never held whole. The few resources that describe the record (Patient, Practitioners,
Questionnaires, MedicationRequests) and the first resource of every other kind are checked
against the ``fhir.resources`` R4B models as they are written; the rest have the same shape.
(Checking every one costs about 4 ms a resource, 7 s for five years of logs; the tests check
every resource of a full record.)
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taper import observability
from taper.domain.instrument import CIWA_B, Item, band_for, patient_band
from taper.domain.timeline import StepPeriod, step_periods
from taper.extensions import db
from taper.models import (
    Alert,
    AlertStatus,
    DailyLog,
    PlanRevision,
    PlanStatus,
    TaperPlan,
    User,
    VisitAssessment,
)
from taper.services import accounts, logs, plans

MEDIA_TYPE = "application/fhir+json"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SLEEP_DURATION = ("93832-4", "Sleep duration")
# FHIR's EventTiming for each part of the day a clinician can split a dose into.
WHEN = {"morning": "MORN", "midday": "NOON", "evening": "EVE", "bedtime": "HS"}
PLAN_STATUS = {
    PlanStatus.DRAFT: "draft",
    PlanStatus.ACTIVE: "active",
    PlanStatus.PAUSED: "on-hold",
    PlanStatus.COMPLETED: "completed",
}
SEVERITY = {"urgent": "high", "review": "moderate", "info": "low"}
LOG_BATCH = 500  # logs read from the database at a time
# Entries between two "still working" beats to gunicorn (a few hundredths of a second apart).
HEARTBEAT_EVERY = 1000


def _iso(moment: datetime) -> str:
    """An instant as FHIR writes it: UTC, with its offset."""
    return moment.astimezone(UTC).isoformat()


def _number(value: Decimal) -> int | float:
    """A dose or number of hours as a JSON number, exactly as typed (3 places at most)."""
    normal = value.normalize()
    return int(normal) if normal == normal.to_integral_value() else float(normal)


@dataclass(frozen=True)
class Names:
    """Where this install's ids, code systems and questionnaires live (from ``PUBLIC_URL``)."""

    base: str
    known: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict, compare=False)

    def full_url(self, kind: str, rid: str) -> str:
        """The entry's ``fullUrl``: the same for the same resource in every export."""
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{self.base}/{kind}/{rid}')}"

    def ref(self, kind: str, rid: str, display: str | None = None) -> dict[str, str]:
        """A reference to the entry (the same dict for the same resource: references to the
        patient, a practitioner or a questionnaire response repeat thousands of times)."""
        found = self.known.get((kind, rid))
        if found is None:
            found = {"reference": self.full_url(kind, rid), "type": kind}
            if display:
                found["display"] = display
            if kind in ("Patient", "Practitioner"):
                self.known[(kind, rid)] = found
        return found

    def system(self, name: str) -> str:
        return f"{self.base}/{name}"

    def questionnaire(self, rid: str) -> str:
        return f"{self.base}/Questionnaire/{rid}"


def _names() -> Names:
    return Names(current_app.config["PUBLIC_URL"].rstrip("/") + "/fhir")


class _Checker:
    """Checks the first resource of each kind (and every one asked) against fhir.resources."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, resource: dict[str, Any], always: bool = False) -> dict[str, Any]:
        # Imported on the first export, not at start-up: the R4B models take 0.2 s to load.
        from fhir.resources.R4B import get_fhir_model_class

        kind = resource["resourceType"]
        if always or kind not in self.seen:
            get_fhir_model_class(kind).model_validate(resource)
            self.seen.add(kind)
        return resource


# --- the record's description --------------------------------------------------------------


def _patient(names: Names, patient: User) -> dict[str, Any]:
    telecom = [{"system": "email", "value": patient.email}]
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone})
    return {
        "resourceType": "Patient",
        "id": f"patient-{patient.id}",
        "identifier": [{"system": names.system("patient"), "value": str(patient.id)}],
        "active": patient.active,
        "name": [{"text": patient.name}],
        "telecom": telecom,
    }


def _practitioner(names: Names, user: User) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": f"practitioner-{user.id}",
        "identifier": [{"system": names.system("practitioner"), "value": str(user.id)}],
        "name": [{"text": user.name}],
    }


def _answer_coding(names: Names, value: int) -> dict[str, str]:
    return {
        "system": names.system("CodeSystem/ciwa-b-answer"),
        "code": str(value),
        "display": CIWA_B.anchors[value],
    }


def _questionnaire(names: Names, rid: str, title: str, items: Iterable[Item]) -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "id": rid,
        "url": names.questionnaire(rid),
        "name": rid.replace("-", "_").upper(),
        "title": title,
        "status": "active",
        "subjectType": ["Patient"],
        "item": [
            {
                "linkId": item.key,
                "code": [
                    {
                        "system": names.system("CodeSystem/ciwa-b-item"),
                        "code": item.key,
                        "display": item.short,
                    }
                ],
                "prefix": str(item.number),
                "text": item.question,
                "type": "choice",
                "answerOption": [
                    {"valueCoding": _answer_coding(names, value)}
                    for value in range(CIWA_B.min_value, CIWA_B.max_value + 1)
                ],
            }
            for item in items
        ],
    }


def _quantity(value: Decimal, unit: str) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": _number(value), "unit": unit}
    if unit == "mg":
        quantity |= {"system": UCUM, "code": "mg"}
    return quantity


def _timing(start: date | None, end: date | None, when: str | None = None) -> dict[str, Any]:
    """When a dose is taken: the days (``boundsPeriod``) and, for a part of the day, when."""
    repeat: dict[str, Any] = {}
    if start is not None:
        repeat["boundsPeriod"] = {"start": start.isoformat()}
        if end is not None:
            repeat["boundsPeriod"]["end"] = end.isoformat()
    if when is not None:
        repeat |= {"frequency": 1, "period": 1, "periodUnit": "d", "when": [when]}
    return {"repeat": repeat} if repeat else {}


def _days_text(period: StepPeriod) -> str:
    if period.ended:
        return "never in force: the plan was completed before it"
    if period.start is None and period.pending:
        return "not dated yet: it starts when the clinician ends the hold or pause before it"
    if period.start is None:
        return "never in force: its days fell inside a hold"
    if period.end is not None:
        return f"from {period.start.isoformat()} to {period.end.isoformat()}"
    if period.step.total == 0:
        return f"from {period.start.isoformat()}: the taper's end, no more doses"
    return f"from {period.start.isoformat()} until the clinician reviews the plan"


def _dosage(
    number: int, period: StepPeriod, text: str, dose: Decimal, unit: str, when: str | None
) -> dict[str, Any]:
    dosage: dict[str, Any] = {"sequence": number, "text": text}
    timing = _timing(period.start, period.end, when)
    if period.start is None:  # no days to give: say why instead (never an empty timing)
        timing["code"] = {"text": _days_text(period)}
    dosage["timing"] = timing
    if period.step.note:
        dosage["patientInstruction"] = period.step.note
    dosage["doseAndRate"] = [{"doseQuantity": _quantity(dose, unit)}]
    return dosage


def _dosages(revision: PlanRevision, plan: TaperPlan) -> list[dict[str, Any]]:
    """One Dosage per typed step (one per part of the day where the clinician split it), each
    with the days the step is in force once holds and pauses apply, up to the day before a
    completed plan ended."""
    found, unit = [], plan.unit
    periods = step_periods(plans.step_inputs(revision), plans.hold_of(revision), _ended(plan))
    for number, period in enumerate(periods, start=1):
        step, days = period.step, _days_text(period)
        total = _number(step.total)
        if step.total == 0:
            found.append(_dosage(number, period, f"Stop: 0 {unit}, {days}", step.total, unit, None))
        elif not step.split:
            dosage = _dosage(
                number, period, f"{total} {unit} a day in total, {days}", step.total, unit, None
            )
            dosage["maxDosePerPeriod"] = {
                "numerator": _quantity(step.total, unit),
                "denominator": {"value": 1, "unit": "d", "system": UCUM, "code": "d"},
            }
            found.append(dosage)
        else:
            found += [
                _dosage(
                    number,
                    period,
                    f"{_number(dose)} {unit} in the {part} ({total} {unit} a day in total), {days}",
                    dose,
                    unit,
                    WHEN[part],
                )
                for part, dose in step.split
            ]
    return found


def _ended(plan: TaperPlan) -> date | None:
    """The day a completed plan ended (None while it runs, or when not known)."""
    return plan.completed_on if plan.status is PlanStatus.COMPLETED else None


def _request_id(revision: PlanRevision) -> str:
    return f"plan-{revision.plan_id}-revision-{revision.number}"


def _replaced(plan: TaperPlan, revision: PlanRevision) -> str:
    """A replaced revision's status: stopped, or cancelled when it never ran (replaced while
    the plan was a draft)."""
    return "cancelled" if plan.never_ran(revision) else "stopped"


def _medication_request(
    names: Names, patient: User, plan: TaperPlan, revision: PlanRevision
) -> dict[str, Any]:
    current = plan.current_revision_id == revision.id
    notes = [{"text": f"Reason: {revision.reason}"}] if revision.reason else []
    if revision.hold_start is not None:
        until = revision.hold_until.isoformat() if revision.hold_until else "the clinician ends it"
        notes.append(
            {
                "text": f"{(revision.hold_kind or 'hold').title()} from "
                f"{revision.hold_start.isoformat()} until {until}"
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": _request_id(revision),
        "identifier": [
            {"system": names.system("plan-revision"), "value": f"{plan.id}/{revision.number}"}
        ],
        "groupIdentifier": {"system": names.system("plan"), "value": str(plan.id)},
        "status": PLAN_STATUS[plan.status] if current else _replaced(plan, revision),
        "intent": "order",
        "medicationCodeableConcept": {"text": plan.medication},
        "subject": names.ref("Patient", f"patient-{patient.id}"),
        "authoredOn": _iso(revision.created_at),
        "requester": names.ref(
            "Practitioner", f"practitioner-{revision.author_id}", revision.author.name
        ),
        "dosageInstruction": _dosages(revision, plan),
    }
    if not current:
        replaced = "Replaced by a later revision of the plan"
        if plan.never_ran(revision):
            replaced += " while it was a draft: never in force"
        resource["statusReason"] = {"text": replaced}
    if notes:
        resource["note"] = notes
    # The revision it replaced, among those that ran (a draft's revisions among themselves).
    first = plan.activated_revision if plan.status is not PlanStatus.DRAFT else None
    if revision.number > (first or 1):
        resource["priorPrescription"] = names.ref(
            "MedicationRequest", f"plan-{plan.id}-revision-{revision.number - 1}"
        )
    return resource


# --- what the patient logged ---------------------------------------------------------------


def _response(
    names: Names,
    rid: str,
    questionnaire: str,
    patient: User,
    answers: dict[str, int],
    items: Iterable[Item],
    authored: datetime,
    author: dict[str, str],
    status: str = "completed",
) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "questionnaire": names.questionnaire(questionnaire),
        "status": status,
        "subject": names.ref("Patient", f"patient-{patient.id}"),
        "authored": _iso(authored),
        "author": author,
        "item": [
            {
                "linkId": item.key,
                "answer": [{"valueCoding": _answer_coding(names, answers[item.key])}],
            }
            for item in items
            if answers.get(item.key) is not None
        ],
    }


def _score(
    names: Names,
    rid: str,
    patient: User,
    day: date,
    issued: datetime,
    code: tuple[str, str],
    value: int,
    band: str,
    derived: str,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": names.system("CodeSystem/score"), "code": code[0]}],
            "text": code[1],
        },
        "subject": names.ref("Patient", f"patient-{patient.id}"),
        "effectiveDateTime": day.isoformat(),
        "issued": _iso(issued),
        "valueInteger": value,
        "interpretation": [{"text": band}],
        "derivedFrom": [names.ref("QuestionnaireResponse", derived)],
    }


PATIENT_TOTAL = ("ciwa-b-patient-total", f"CIWA-B, patient-rated items (0-{CIWA_B.patient_max})")
VISIT_TOTAL = ("ciwa-b-total", f"CIWA-B, all items at a visit (0-{CIWA_B.total_max})")


class _Requests:
    """The revision of each plan in force when something was saved (a log's basedOn)."""

    def __init__(self, revisions: Iterable[PlanRevision]) -> None:
        self.by_plan: dict[int, list[PlanRevision]] = {}
        for revision in sorted(revisions, key=lambda r: (r.created_at, r.number)):
            self.by_plan.setdefault(revision.plan_id, []).append(revision)
        self.times = {
            plan_id: [r.created_at for r in found] for plan_id, found in self.by_plan.items()
        }

    def at(self, plan_id: int, moment: datetime) -> PlanRevision | None:
        found = self.by_plan.get(plan_id)
        if not found:
            return None
        index = bisect_right(self.times[plan_id], moment) - 1
        return found[max(index, 0)]


def _log_resources(
    names: Names, patient: User, entry: DailyLog, requests: _Requests
) -> Iterator[dict[str, Any]]:
    """The QuestionnaireResponse, Observations and MedicationStatements of one logged day."""
    rid = f"log-{patient.id}-{entry.day:%Y%m%d}"
    me = names.ref("Patient", f"patient-{patient.id}")
    if entry.answers:
        yield _response(
            names,
            rid,
            "ciwa-b-patient",
            patient,
            entry.answers,
            CIWA_B.patient_items,
            entry.created_at,
            me,
            "amended" if entry.version > 1 else "completed",
        )
    if entry.answers and entry.patient_total is not None:
        score = _score(
            names,
            f"{rid}-score",
            patient,
            entry.day,
            entry.created_at,
            PATIENT_TOTAL,
            entry.patient_total,
            patient_band(CIWA_B, entry.patient_total).label,
            rid,
        )
        if entry.note:
            score["note"] = [{"authorReference": me, "text": entry.note}]
        yield score
    if entry.sleep_hours is not None:
        sleep: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"{rid}-sleep",
            "status": "final",
            "code": {
                "coding": [
                    {"system": LOINC, "code": SLEEP_DURATION[0], "display": SLEEP_DURATION[1]}
                ],
                "text": "Hours slept (as the patient reported)",
            },
            "subject": me,
            "effectiveDateTime": entry.day.isoformat(),
            "issued": _iso(entry.created_at),
            "performer": [me],
            "valueQuantity": {
                "value": _number(entry.sleep_hours),
                "unit": "h",
                "system": UCUM,
                "code": "h",
            },
        }
        if entry.answers:
            sleep["derivedFrom"] = [names.ref("QuestionnaireResponse", rid)]
        yield sleep
    for dose in entry.doses:
        yield _statement(names, patient, entry, dose, requests, rid)


def _statement(names, patient, entry, dose, requests, rid) -> dict[str, Any]:
    taken = _number(dose.dose_taken)
    scheduled = _number(dose.dose_scheduled)
    if dose.took_as_scheduled:
        text = f"Taken as scheduled: {taken} {dose.unit}"
    else:
        text = f"Took {taken} {dose.unit}; the plan said {scheduled} {dose.unit}"
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": f"{rid}-plan-{dose.plan_id}",
        "status": "not-taken" if dose.dose_taken == 0 else "completed",
        "medicationCodeableConcept": {"text": dose.medication},
        "subject": names.ref("Patient", f"patient-{patient.id}"),
        "effectiveDateTime": entry.day.isoformat(),
        "dateAsserted": _iso(entry.created_at),
        "informationSource": names.ref("Patient", f"patient-{patient.id}"),
        "note": [{"text": text}],
        "dosage": [
            {
                "text": text,
                "timing": _timing(entry.day, entry.day, None),
                "doseAndRate": [{"doseQuantity": _quantity(dose.dose_taken, dose.unit)}],
            }
        ],
    }
    revision = requests.at(dose.plan_id, entry.created_at)
    if revision is not None:
        resource["basedOn"] = [names.ref("MedicationRequest", _request_id(revision))]
    if entry.answers:
        resource["derivedFrom"] = [names.ref("QuestionnaireResponse", rid)]
    return resource


def _visit_resources(
    names: Names, patient: User, visit: VisitAssessment
) -> Iterator[dict[str, Any]]:
    rid = f"visit-{visit.id}"
    clinician = names.ref(
        "Practitioner", f"practitioner-{visit.clinician_id}", visit.clinician.name
    )
    yield _response(
        names,
        rid,
        "ciwa-b-visit",
        patient,
        visit.answers,
        CIWA_B.items,
        visit.created_at,
        clinician,
    )
    score = _score(
        names,
        f"{rid}-score",
        patient,
        visit.day,
        visit.created_at,
        VISIT_TOTAL,
        visit.total,
        band_for(CIWA_B, visit.total).label,
        rid,
    )
    score["performer"] = [clinician]
    if visit.note:
        score["note"] = [{"authorReference": clinician, "text": visit.note}]
    yield score


# --- alerts --------------------------------------------------------------------------------


def _alert_resources(
    names: Names, patient: User, alert: Alert, log_days: dict[int, date]
) -> Iterator[dict[str, Any]]:
    """A DetectedIssue for the alert, with who acknowledged and resolved it as mitigations;
    a Flag as well while an urgent alert is not resolved."""
    rid = f"alert-{alert.id}"
    mitigation = []
    for action, by, at in (
        ("Acknowledged", alert.acknowledged_by, alert.acknowledged_at),
        ("Resolved", alert.resolved_by, alert.resolved_at),
    ):
        if at is not None:
            step: dict[str, Any] = {"action": {"text": action}, "date": _iso(at)}
            if by is not None:
                step["author"] = names.ref("Practitioner", f"practitioner-{by.id}", by.name)
            mitigation.append(step)
    detail = alert.reason + (f' The patient wrote: "{alert.quote}"' if alert.quote else "")
    if alert.note:
        detail += f"\nCare team notes: {alert.note}"
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": rid,
        "identifier": [{"system": names.system("alert"), "value": str(alert.id)}],
        "status": "final" if alert.status is AlertStatus.RESOLVED else "preliminary",
        "code": {
            "coding": [
                {
                    "system": names.system("CodeSystem/alert-kind"),
                    "code": alert.kind,
                }
            ],
            "text": f"{alert.tier.title()} alert: {alert.kind.replace('_', ' ')}",
        },
        "severity": SEVERITY.get(alert.tier, "moderate"),
        "patient": names.ref("Patient", f"patient-{patient.id}"),
        "identifiedDateTime": _iso(alert.created_at),
        "detail": detail,
    }
    if alert.log_id in log_days:
        day = log_days[alert.log_id]
        issue["evidence"] = [
            {"detail": [names.ref("QuestionnaireResponse", f"log-{patient.id}-{day:%Y%m%d}")]}
        ]
    if mitigation:
        issue["mitigation"] = mitigation
    yield issue
    if alert.tier == "urgent" and alert.status is not AlertStatus.RESOLVED:
        flag: dict[str, Any] = {
            "resourceType": "Flag",
            "id": f"{rid}-flag",
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/flag-detail",
                    "valueReference": names.ref("DetectedIssue", rid),
                }
            ],
            "status": "active",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/flag-category",
                            "code": "clinical",
                        }
                    ]
                }
            ],
            "code": {"text": alert.reason},
            "subject": names.ref("Patient", f"patient-{patient.id}"),
            "period": {"start": _iso(alert.created_at)},
        }
        yield flag


# --- reading the record --------------------------------------------------------------------


def _revisions(patient: User, include_drafts: bool) -> list[tuple[TaperPlan, PlanRevision]]:
    """Every revision of every plan, or (the patient's own copy) of every plan that ran, and
    only the revisions that ran."""
    return [
        (plan, revision)
        for plan in plans.with_revisions(patient, include_drafts=include_drafts)
        for revision in plan.revisions
        if include_drafts or not plan.never_ran(revision)
    ]


def _entries(patient: User, include_drafts: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """(fullUrl, resource) for everything in the record, the record's description first."""
    names, check = _names(), _Checker()
    revisions = _revisions(patient, include_drafts)
    visits = list(
        db.session.scalars(
            select(VisitAssessment)
            .where(VisitAssessment.patient_id == patient.id)
            .options(selectinload(VisitAssessment.clinician))
            .order_by(VisitAssessment.day, VisitAssessment.id)
        )
    )
    alerts = list(
        db.session.scalars(
            select(Alert)
            .where(Alert.patient_id == patient.id)
            .options(selectinload(Alert.acknowledged_by), selectinload(Alert.resolved_by))
            .order_by(Alert.created_at, Alert.id)
        )
    )
    log_ids = [a.log_id for a in alerts if a.log_id is not None]
    log_days = (
        dict(
            db.session.execute(select(DailyLog.id, DailyLog.day).where(DailyLog.id.in_(log_ids)))
            .tuples()
            .all()
        )
        if log_ids
        else {}
    )
    clinicians: dict[int, User] = {r.author_id: r.author for _, r in revisions}
    clinicians |= {v.clinician_id: v.clinician for v in visits}
    for alert in alerts:
        for by in (alert.acknowledged_by, alert.resolved_by):
            if by is not None:
                clinicians[by.id] = by

    described = [_patient(names, patient)]
    described += [_practitioner(names, user) for _, user in sorted(clinicians.items())]
    described += [
        _questionnaire(
            names, "ciwa-b-patient", "CIWA-B, patient-rated items (daily log)", CIWA_B.patient_items
        ),
        _questionnaire(names, "ciwa-b-visit", "CIWA-B, all items (clinic visit)", CIWA_B.items),
    ]
    described += [_medication_request(names, patient, p, r) for p, r in revisions]
    for resource in described:
        yield names.full_url(resource["resourceType"], resource["id"]), check(resource, True)

    requests = _Requests(r for _, r in revisions)
    in_force = logs.in_force_query(patient).execution_options(yield_per=LOG_BATCH)
    for entry in db.session.scalars(in_force):
        for resource in _log_resources(names, patient, entry, requests):
            yield names.full_url(resource["resourceType"], resource["id"]), check(resource)
    for visit in visits:
        for resource in _visit_resources(names, patient, visit):
            yield names.full_url(resource["resourceType"], resource["id"]), check(resource)
    for alert in alerts:
        for resource in _alert_resources(names, patient, alert, log_days):
            yield names.full_url(resource["resourceType"], resource["id"]), check(resource)


def bundle_chunks(patient: User, *, include_drafts: bool) -> Iterator[bytes]:
    """The Bundle as UTF-8 JSON, in pieces (one entry at a time), for a streamed download.
    ``include_drafts``: the clinician's draft plans too (never in the patient's own copy)."""
    names = _names()
    head = {
        "resourceType": "Bundle",
        "id": f"record-{patient.id}",
        "identifier": {"system": names.system("record"), "value": str(patient.id)},
        "type": "collection",
        "timestamp": _iso(datetime.now(UTC)),
    }
    yield json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "entry": ['
    separator = b""
    for count, (full_url, resource) in enumerate(_entries(patient, include_drafts), start=1):
        entry = {"fullUrl": full_url, "resource": resource}
        yield separator + json.dumps(entry, ensure_ascii=False).encode()
        separator = b",\n"
        if count % HEARTBEAT_EVERY == 0:
            observability.still_working()
    yield b"]}\n"


def bundle(patient: User, *, include_drafts: bool) -> dict[str, Any]:
    """The whole Bundle as a dict (tests, and callers that need it in memory)."""
    return json.loads(b"".join(bundle_chunks(patient, include_drafts=include_drafts)))


class _Pipe(io.RawIOBase):
    """A write-only stream that hands on what was written: zipfile writes here, the
    download reads the pieces off as they come."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out, self.pieces = b"".join(self.pieces), []
        return out


def care_team_zip_chunks(
    clinician: User, patients: Sequence[User] | None = None
) -> Iterator[bytes]:
    """A ZIP of one Bundle per patient on the clinician's care team (``patient-<id>.json``),
    in pieces, for a streamed download: one patient's Bundle at a time, never the whole ZIP.
    ``patients``: the team as the caller read it (and audited), else read here."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        team = accounts.care_team_patients(clinician) if patients is None else patients
        for patient in team:
            observability.still_working()  # and every HEARTBEAT_EVERY entries of a Bundle
            with archive.open(f"patient-{patient.id}.json", "w", force_zip64=True) as member:
                for piece in bundle_chunks(patient, include_drafts=True):
                    member.write(piece)
                    if len(pipe.pieces) > 16:
                        yield pipe.drain()
            yield pipe.drain()
    yield pipe.drain()
