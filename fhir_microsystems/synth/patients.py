"""Patients, their cohorts (cancer, diabetes, hypertension, primary-care panel), Conditions."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from .clock import Clock
from .config import SynthConfig
from .ids import uuid_from
from .names import human_name
from .staffing import Staff
from .vocab import (
    CANCERS,
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    DIABETES,
    HYPERTENSION,
    SNOMED,
    concept,
)

_GENDERS = (("female", 0.51), ("male", 0.98), ("other", 0.99), ("unknown", 1.0))


@dataclass(slots=True)
class ChronicCondition:
    """A problem-list Condition the patient has before or from a point in the window."""

    id: str
    code: tuple[str, str]
    onset: str
    #: Minute it starts to matter in the window (0 = before the window).
    active_from: int = 0


@dataclass(slots=True, eq=False)
class PatientProfile:
    """What the timeline needs to know about one patient; dropped once written."""

    index: int
    id: str
    gender: str
    birth: date
    age: int
    name: dict[str, Any]
    conditions: list[ChronicCondition] = field(default_factory=list)
    diabetes: ChronicCondition | None = None
    hypertension: ChronicCondition | None = None
    cancer: ChronicCondition | None = None
    team: str | None = None
    physician: Staff | None = None
    oncologist: Staff | None = None
    #: The physician named as generalPractitioner, and the month of the first visit.
    named_physician: tuple[Staff, int] | None = None
    #: The oncologist of the first oncology visit, and its month.
    named_oncologist: tuple[Staff, int] | None = None
    deceased_at: int | None = None
    last_hba1c: int = -(10**9)

    @property
    def key(self) -> str:
        return f"Patient/{self.id}"

    @property
    def chronic(self) -> bool:
        return self.diabetes is not None or self.hypertension is not None


def make_profile(
    rng: random.Random, index: int, clock: Clock, config: SynthConfig, teams: list[str]
) -> PatientProfile:
    """Draw a patient's demographics and cohorts."""
    draw = rng.random()
    gender = next(name for name, bound in _GENDERS if draw < bound)
    age = 18 + int(rng.betavariate(1.4, 1.6) * 77)
    birth = clock.start - timedelta(days=age * 365 + rng.randrange(365))
    profile = PatientProfile(index, uuid_from(rng), gender, birth, age, human_name(rng, gender))
    weight = age / 95
    if rng.random() < 0.08 + 0.45 * weight:
        profile.hypertension = _chronic(rng, clock, HYPERTENSION, 12)
        profile.conditions.append(profile.hypertension)
    if rng.random() < 0.04 + 0.18 * weight:
        profile.diabetes = _chronic(rng, clock, DIABETES, 15)
        profile.conditions.append(profile.diabetes)
    if rng.random() < config.oncology_share * (0.4 + 1.2 * weight):
        cancer = rng.choice(CANCERS)
        if rng.random() < 0.3:
            start = rng.randrange(clock.end)
            profile.cancer = ChronicCondition(
                uuid_from(rng), cancer, clock.local_date(start), active_from=start
            )
        else:
            profile.cancer = _chronic(rng, clock, cancer, 2)
        profile.conditions.append(profile.cancer)
    share = config.primary_care_share * (1.2 if profile.chronic else 0.9)
    if rng.random() < share:
        profile.team = teams[rng.randrange(len(teams))]
    return profile


def _chronic(
    rng: random.Random, clock: Clock, code: tuple[str, str], years: int
) -> ChronicCondition:
    return ChronicCondition(uuid_from(rng), code, clock.date_before(rng.randint(30, 365 * years)))


def patient_resource(
    profile: PatientProfile, clock: Clock, base_url: str, general_practitioner: str | None
) -> dict[str, Any]:
    """The Patient resource (deceasedDateTime when the patient died in the window)."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": profile.id,
        "identifier": [{"system": f"{base_url}/sid/mrn", "value": f"MRN{profile.index + 1:08d}"}],
        "active": True,
        "name": [profile.name],
        "gender": profile.gender,
        "birthDate": profile.birth.isoformat(),
    }
    if profile.deceased_at is not None:
        resource["deceasedDateTime"] = clock.local(profile.deceased_at)
    if general_practitioner:
        resource["generalPractitioner"] = [{"reference": general_practitioner}]
    return resource


def condition_resource(condition: ChronicCondition, patient: str) -> dict[str, Any]:
    """A problem-list Condition, active and confirmed."""
    return {
        "resourceType": "Condition",
        "id": condition.id,
        "clinicalStatus": concept(CONDITION_CLINICAL, "active", "Active"),
        "verificationStatus": concept(CONDITION_VERIFICATION, "confirmed", "Confirmed"),
        "category": [concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
        "code": concept(SNOMED, *condition.code),
        "subject": {"reference": patient},
        "onsetDateTime": condition.onset,
        "recordedDate": condition.onset,
    }


def acute_condition(
    condition_id: str,
    code: tuple[str, str],
    patient: str,
    encounter: str,
    onset: str,
    abated: str | None,
) -> dict[str, Any]:
    """An encounter-diagnosis Condition (resolved when the encounter ended)."""
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": condition_id,
        "clinicalStatus": concept(
            CONDITION_CLINICAL, *(("resolved", "Resolved") if abated else ("active", "Active"))
        ),
        "verificationStatus": concept(CONDITION_VERIFICATION, "confirmed", "Confirmed"),
        "category": [concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
        "code": concept(SNOMED, *code),
        "subject": {"reference": patient},
        "encounter": {"reference": encounter},
        "onsetDateTime": onset,
        "recordedDate": onset,
    }
    if abated:
        resource["abatementDateTime"] = abated
    return resource
