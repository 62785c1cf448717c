"""Observations of an encounter: vital signs, HbA1c, pain score, experience survey."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .clock import Clock
from .config import SynthConfig
from .effects import Effect
from .ids import uuid_from
from .patients import PatientProfile
from .references import RefStyle
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


def quantity(value: float | int, unit: str) -> dict[str, Any]:
    """A UCUM Quantity."""
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


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

    def _code(self, rng: random.Random, system: str, code: tuple[str, str]) -> dict[str, Any]:
        entry = {"system": system, "code": code[0], "display": code[1]}
        if rng.random() < self.missing_system:
            del entry["system"]
        return {"coding": [entry], "text": code[1]}

    def _base(
        self,
        rng: random.Random,
        category: str,
        code: dict[str, Any],
        profile: PatientProfile,
        encounter: str,
        minute: int,
        style: RefStyle,
    ) -> dict[str, Any]:
        when = (
            self.clock.utc(minute)
            if rng.random() < self.config.utc_timestamp_share
            else self.clock.local(minute)
        )
        return {
            "resourceType": "Observation",
            "id": uuid_from(rng),
            "status": "final",
            "category": _CATEGORIES[category],
            "code": code,
            "subject": {"reference": style.local(profile.key)},
            "encounter": {"reference": style.local(encounter)},
            "effectiveDateTime": when,
        }

    def _single(
        self,
        rng: random.Random,
        category: str,
        code: dict[str, Any],
        value: dict[str, Any] | None,
        context: tuple[PatientProfile, str, int, RefStyle],
        performer: str | None = None,
    ) -> None:
        profile, encounter, minute, style = context
        resource = self._base(rng, category, code, profile, encounter, minute, style)
        if performer:
            resource["performer"] = [{"reference": performer}]
        if value is not None and rng.random() >= self.missing_value:
            resource.update(value)
        elif rng.random() < 0.5:
            resource["dataAbsentReason"] = {
                "coding": [coding(DATA_ABSENT, "unknown", "Unknown")],
                "text": "Unknown",
            }
        self.emit(resource)

    def blood_pressure(
        self,
        rng: random.Random,
        context: tuple[PatientProfile, str, int, RefStyle],
        effect: Effect,
        performer: str | None,
    ) -> None:
        """A BP panel (85354-9) or, sometimes, a standalone systolic/diastolic pair."""
        profile = context[0]
        mean = 136.0 if profile.hypertension else 121.0
        systolic = round(rng.gauss(mean + effect.systolic + (profile.age - 50) * 0.2, 13))
        diastolic = round(systolic * 0.58 + rng.gauss(8, 6))
        systolic, diastolic = max(80, min(230, systolic)), max(40, min(140, diastolic))
        if rng.random() < self.config.bp_split_share:
            for code, value in ((SYSTOLIC, systolic), (DIASTOLIC, diastolic)):
                self._single(
                    rng,
                    "vital-signs",
                    self._code(rng, LOINC, code),
                    {"valueQuantity": quantity(value, "mm[Hg]")},
                    context,
                    performer,
                )
            return
        profile_, encounter, minute, style = context
        resource = self._base(
            rng, "vital-signs", self._code(rng, LOINC, BP_PANEL), profile_, encounter, minute, style
        )
        if performer:
            resource["performer"] = [{"reference": performer}]
        resource["component"] = [
            {
                "code": self._code(rng, LOINC, SYSTOLIC),
                "valueQuantity": quantity(systolic, "mm[Hg]"),
            },
            {
                "code": self._code(rng, LOINC, DIASTOLIC),
                "valueQuantity": quantity(diastolic, "mm[Hg]"),
            },
        ]
        self.emit(resource)

    def heart_rate(
        self, rng: random.Random, context: tuple[PatientProfile, str, int, RefStyle]
    ) -> None:
        value = max(40, min(180, round(rng.gauss(82, 14))))
        self._single(
            rng,
            "vital-signs",
            self._code(rng, LOINC, HEART_RATE),
            {"valueQuantity": quantity(value, "/min")},
            context,
        )

    def pain(
        self, rng: random.Random, context: tuple[PatientProfile, str, int, RefStyle], mean: float
    ) -> None:
        value = max(0, min(10, round(rng.gauss(mean, 2.2))))
        self._single(
            rng,
            "vital-signs",
            self._code(rng, LOINC, PAIN),
            {"valueQuantity": quantity(value, "{score}")},
            context,
        )

    def hba1c(
        self,
        rng: random.Random,
        context: tuple[PatientProfile, str, int, RefStyle],
        effect: Effect,
    ) -> None:
        """HbA1c in % (now and then, as noise, in mmol/mol under the same code)."""
        percent = max(4.5, min(14.0, rng.gauss(7.3 + effect.hba1c, 1.2)))
        if rng.random() < self.wrong_unit:
            value = quantity(round((percent - 2.15) * 10.929), "mmol/mol")
        else:
            value = quantity(round(percent, 1), "%")
        self._single(
            rng, "laboratory", self._code(rng, LOINC, HBA1C), {"valueQuantity": value}, context
        )

    def experience(
        self,
        rng: random.Random,
        context: tuple[PatientProfile, str, int, RefStyle],
        effect: Effect,
    ) -> None:
        """'Would recommend' 0-10 (local code system), answered after the visit."""
        score = max(0, min(10, round(rng.gauss(8.0 - effect.systolic / 6, 1.8))))
        code = {
            "coding": [
                {"system": self.experience_system, "code": EXPERIENCE[0], "display": EXPERIENCE[1]}
            ],
            "text": EXPERIENCE[1],
        }
        self._single(rng, "survey", code, {"valueInteger": score}, context)

    def for_visit(
        self,
        rng: random.Random,
        visit: Visit,
        profile: PatientProfile,
        encounter: str,
        style: RefStyle,
        effect: Effect,
        nurse: str | None,
    ) -> None:
        """All Observations of ``visit``."""
        start, end = visit.start, visit.end
        performer = nurse if nurse and rng.random() < 0.5 else None
        first = (profile, encounter, start + rng.randint(5, 20), style)
        if visit.kind == "emergency":
            self.blood_pressure(rng, first, effect, performer)
            self.heart_rate(rng, first)
            self.pain(rng, first, 5.0)
        elif visit.kind == "inpatient-ward":
            self.pain(rng, first, 4.0)
            stop = end if end is not None else self.clock.end
            day = self.clock.local_midnight(start) + 1440 + 8 * 60
            readings = 0
            self.blood_pressure(rng, first, effect, performer)
            while day < stop and readings < 10:
                self.blood_pressure(
                    rng, (profile, encounter, day + rng.randrange(90), style), effect, performer
                )
                day += 1440
                readings += 1
        else:
            self.blood_pressure(rng, first, effect, performer)
            if visit.kind == "oncology":
                self.pain(rng, first, 3.0)
        if (
            profile.diabetes
            and visit.kind != "emergency"
            and start - profile.last_hba1c > 80 * 1440
        ):
            profile.last_hba1c = start
            self.hba1c(rng, first, effect)
        if end is not None and rng.random() < self.config.survey_rate:
            answered = end + rng.randint(60, 4320)
            if answered < self.clock.end:
                self.experience(rng, (profile, encounter, answered, style), effect)
