"""Observations of an encounter: vital signs, HbA1c, pain score, experience survey."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .config import SynthConfig
from .effects import Effect
from .ids import uuid_from
from .patients import PatientProfile
from .timeline import Visit
from .vocab import (
    BP_PANEL,
    DATA_ABSENT,
    DIASTOLIC,
    EXPERIENCE,
    HBA1C,
    HEART_RATE,
    LOINC,
    OBS_CATEGORY,
    PAIN,
    SYSTOLIC,
    UCUM,
    coding,
    local_system,
)

Emit = Callable[[dict[str, Any]], None]
_CATEGORIES = {
    name: [{"coding": [coding(OBS_CATEGORY, name, display)]}]
    for name, display in (
        ("vital-signs", "Vital Signs"),
        ("laboratory", "Laboratory"),
        ("survey", "Survey"),
    )
}
_ABSENT = {"coding": [coding(DATA_ABSENT, "unknown", "Unknown")], "text": "Unknown"}
#: HbA1c is measured again once the last result is older than this (minutes).
HBA1C_INTERVAL = 80 * 1440


def quantity(value: float, unit: str) -> dict[str, Any]:
    """A UCUM Quantity."""
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


@dataclass(frozen=True, slots=True)
class Subject:
    """Who and which encounter the Observations are about, as the feed writes them."""

    patient: str
    encounter: str
    performer: str | None


class ObservationWriter:
    """Writes the Observations of one encounter through ``emit``."""

    def __init__(self, config: SynthConfig, clock: Clock, emit: Emit) -> None:
        self.config = config
        self.clock = clock
        self.emit = emit
        self.experience_system = local_system(config.base_url, "experience")
        self.missing_value = config.noisy(config.missing_value_noise)
        self.missing_system = config.noisy(config.missing_system_noise)
        self.wrong_unit = config.noisy(config.wrong_unit_noise)

    def when(self, rng: random.Random, minute: int) -> str:
        """effectiveDateTime: local with offset, or (lab-style feeds) UTC."""
        if rng.random() < self.config.utc_timestamp_share:
            return self.clock.utc(minute)
        return self.clock.local(minute)

    def _code(self, rng: random.Random, system: str, code: tuple[str, str]) -> dict[str, Any]:
        entry = {"system": system, "code": code[0], "display": code[1]}
        if rng.random() < self.missing_system:
            del entry["system"]
        return {"coding": [entry], "text": code[1]}

    def _observation(
        self,
        rng: random.Random,
        category: str,
        code: dict[str, Any],
        subject: Subject,
        when: str,
        performer: bool = False,
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": uuid_from(rng),
            "status": "final",
            "category": _CATEGORIES[category],
            "code": code,
            "subject": {"reference": subject.patient},
            "encounter": {"reference": subject.encounter},
            "effectiveDateTime": when,
        }
        if performer and subject.performer:
            resource["performer"] = [{"reference": subject.performer}]
        return resource

    def _single(
        self,
        rng: random.Random,
        category: str,
        code: dict[str, Any],
        value: dict[str, Any],
        subject: Subject,
        when: str,
        performer: bool = False,
    ) -> None:
        """One Observation with a value (now and then, as noise, without one)."""
        resource = self._observation(rng, category, code, subject, when, performer)
        if rng.random() >= self.missing_value:
            resource.update(value)
        elif rng.random() < 0.5:
            resource["dataAbsentReason"] = _ABSENT
        self.emit(resource)

    def blood_pressure(
        self,
        rng: random.Random,
        subject: Subject,
        minute: int,
        profile: PatientProfile,
        effect: Effect,
    ) -> None:
        """A BP panel (85354-9) or a standalone systolic/diastolic pair at the same time."""
        mean = 136.0 if profile.hypertension else 121.0
        systolic = round(rng.gauss(mean + effect.systolic + (profile.age - 50) * 0.2, 13))
        diastolic = round(systolic * 0.58 + rng.gauss(8, 6))
        systolic, diastolic = max(80, min(230, systolic)), max(40, min(140, diastolic))
        when = self.when(rng, minute)
        if rng.random() < self.config.bp_split_share:
            for code, value in ((SYSTOLIC, systolic), (DIASTOLIC, diastolic)):
                self._single(
                    rng,
                    "vital-signs",
                    self._code(rng, LOINC, code),
                    {"valueQuantity": quantity(value, "mm[Hg]")},
                    subject,
                    when,
                    performer=True,
                )
            return
        resource = self._observation(
            rng, "vital-signs", self._code(rng, LOINC, BP_PANEL), subject, when, performer=True
        )
        resource["component"] = [
            {"code": self._code(rng, LOINC, code), "valueQuantity": quantity(value, "mm[Hg]")}
            for code, value in ((SYSTOLIC, systolic), (DIASTOLIC, diastolic))
        ]
        self.emit(resource)

    def heart_rate(self, rng: random.Random, subject: Subject, minute: int) -> None:
        value = max(40, min(180, round(rng.gauss(82, 14))))
        code = self._code(rng, LOINC, HEART_RATE)
        self._single(
            rng,
            "vital-signs",
            code,
            {"valueQuantity": quantity(value, "/min")},
            subject,
            self.when(rng, minute),
            performer=True,
        )

    def pain(self, rng: random.Random, subject: Subject, minute: int, mean: float) -> None:
        value = max(0, min(10, round(rng.gauss(mean, 2.2))))
        code = self._code(rng, LOINC, PAIN)
        self._single(
            rng,
            "vital-signs",
            code,
            {"valueQuantity": quantity(value, "{score}")},
            subject,
            self.when(rng, minute),
        )

    def hba1c(self, rng: random.Random, subject: Subject, minute: int, effect: Effect) -> None:
        """HbA1c in % (now and then, as noise, in mmol/mol under the same code)."""
        percent = max(4.5, min(14.0, rng.gauss(7.3 + effect.hba1c, 1.2)))
        if rng.random() < self.wrong_unit:
            value = quantity(round((percent - 2.15) * 10.929), "mmol/mol")
        else:
            value = quantity(round(percent, 1), "%")
        code = self._code(rng, LOINC, HBA1C)
        self._single(
            rng, "laboratory", code, {"valueQuantity": value}, subject, self.when(rng, minute)
        )

    def experience(self, rng: random.Random, subject: Subject, minute: int, effect: Effect) -> None:
        """'Would recommend' 0-10 (local code system), answered after the visit."""
        score = max(0, min(10, round(rng.gauss(8.0 - effect.systolic / 6, 1.8))))
        code = {
            "coding": [
                {"system": self.experience_system, "code": EXPERIENCE[0], "display": EXPERIENCE[1]}
            ],
            "text": EXPERIENCE[1],
        }
        self._single(
            rng, "survey", code, {"valueInteger": score}, subject, self.clock.local(minute)
        )

    def for_visit(
        self,
        rng: random.Random,
        visit: Visit,
        profile: PatientProfile,
        subject: Subject,
        effect: Effect,
    ) -> None:
        """All Observations of ``visit``."""
        start, end = visit.start, visit.end
        first = start + rng.randint(5, 20)
        if visit.kind == "emergency":
            self.blood_pressure(rng, subject, first, profile, effect)
            self.heart_rate(rng, subject, first)
            self.pain(rng, subject, first, 5.0)
        elif visit.kind == "inpatient-ward":
            self.pain(rng, subject, first, 4.0)
            self.blood_pressure(rng, subject, first, profile, effect)
            stop = end if end is not None else self.clock.end
            morning = self.clock.local_midnight(start) + 1440 + 8 * 60
            for day in range(10):
                reading = morning + day * 1440 + rng.randrange(90)
                if reading >= stop:
                    break
                self.blood_pressure(rng, subject, reading, profile, effect)
        else:
            self.blood_pressure(rng, subject, first, profile, effect)
            if visit.kind == "oncology":
                self.pain(rng, subject, first, 3.0)
        if (
            profile.diabetes
            and visit.kind != "emergency"
            and (start - profile.last_hba1c > HBA1C_INTERVAL)
        ):
            profile.last_hba1c = start
            self.hba1c(rng, subject, first, effect)
        if end is not None and rng.random() < self.config.survey_rate:
            answered = end + rng.randint(60, 4320)
            if answered < self.clock.end:
                self.experience(rng, subject, answered, effect)
