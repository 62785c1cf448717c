"""Encounter resources: who took part (by shift, rotation, continuity), where, and why."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .config import SynthConfig
from .hospital import Microsystem
from .patients import PatientProfile
from .references import RefStyle
from .rosters import Rosters
from .staffing import Staff
from .timeline import Visit
from .vocab import (
    ACT_CODE,
    ADMIT_SOURCE,
    BAD_CLASS,
    CHECK_UP,
    CHEMOTHERAPY,
    CLASSES,
    DIAGNOSIS_ROLE,
    DISCHARGE,
    DISPOSITIONS,
    ENCOUNTER_TYPES,
    PARTICIPANT_TYPES,
    PARTICIPATION,
    SNOMED,
    coding,
    concept,
)

DAY_START, NIGHT_START = 7 * 60, 19 * 60
#: Minutes outgoing and incoming ED shifts overlap at a handover.
HANDOVER_OVERLAP = 30
#: A stay must last this long past a shift change for the incoming shift to take over.
HANDOVER_GRACE = 60
_ADMIT_SOURCES = {
    "emd": "From accident/emergency department",
    "gp": "General Practitioner referral",
    "outp": "From outpatient department",
}
_DIAGNOSIS_USES = {
    "CC": "Chief complaint",
    "AD": "Admission diagnosis",
    "DD": "Discharge diagnosis",
    "CM": "Comorbidity diagnosis",
}
_TYPE_CONCEPTS = {
    code: [{"coding": [coding(PARTICIPATION, code, display)], "text": display}]
    for code, display in PARTICIPANT_TYPES.items()
}


@dataclass(slots=True)
class Participation:
    """One participant: participation type, staff member and the minutes they took part."""

    type: str
    member: Staff
    start: int
    end: int | None


class EncounterBuilder:
    """Builds Encounters of one generation run (shared rosters, clock and config)."""

    def __init__(
        self,
        config: SynthConfig,
        clock: Clock,
        rosters: Rosters,
        micros: dict[str, Microsystem],
    ) -> None:
        self.config = config
        self.clock = clock
        self.rosters = rosters
        self.micros = micros

    # -- who ------------------------------------------------------------------------------

    def shift_of(self, minute: int) -> str:
        local = self.clock.local_minute_of_day(minute)
        return "day" if DAY_START <= local < NIGHT_START else "night"

    def next_boundary(self, minute: int) -> int:
        """The next 07:00 or 19:00 local shift change after ``minute``."""
        local = self.clock.local_minute_of_day(minute)
        if local < DAY_START:
            return minute + DAY_START - local
        if local < NIGHT_START:
            return minute + NIGHT_START - local
        return minute + 1440 - local + DAY_START

    def pick(
        self, rng: random.Random, minute: int, micro: str, discipline: str, shift: str = ""
    ) -> Staff | None:
        return self.rosters.pick(rng, self.clock.month_of(minute), micro, discipline, shift)

    def participants(
        self, rng: random.Random, visit: Visit, profile: PatientProfile
    ) -> list[Participation]:
        """The staff who took part in ``visit``."""
        if visit.kind == "emergency":
            return self._emergency(rng, visit)
        if visit.kind == "inpatient-ward":
            return self._inpatient(rng, visit, profile)
        if visit.kind == "oncology":
            return self._oncology(rng, visit, profile)
        return self._primary_care(rng, visit, profile)

    def _add(
        self,
        parts: list[Participation],
        kind: str,
        member: Staff | None,
        start: int,
        end: int | None,
    ) -> None:
        if member is not None and all(p.member is not member for p in parts):
            parts.append(Participation(kind, member, start, end))

    def _emergency(self, rng: random.Random, visit: Visit) -> list[Participation]:
        """Staff of the arrival shift; the next shift takes over if the stay runs on."""
        parts: list[Participation] = []
        start, end = visit.start, visit.end
        shift = self.shift_of(start)
        other = "night" if shift == "day" else "day"

        def add(kind: str, discipline: str, on: str, begin: int, until: int | None) -> None:
            self._add(parts, kind, self.pick(rng, begin, "ed", discipline, on), begin, until)

        first = self.next_boundary(start)
        second = self.next_boundary(first + 1)
        # Patients leaving within the hour after a shift change stay with the outgoing team.
        handover = end is None or end > first + HANDOVER_GRACE
        again = handover and (end is None or end > second + HANDOVER_GRACE)
        until = first + HANDOVER_OVERLAP if handover else end
        add("ATND", "physician", shift, start, until)
        if rng.random() < 0.2:
            add("ATND", "physician", shift, start, until)
        for _ in range(1 + (rng.random() < 0.45)):
            add("SPRF", "nurse", shift, start, until)
        if rng.random() < 0.22:
            add("ATND", "physician", "both", start, until)
        if shift == "day" and rng.random() < 0.1:
            add("SPRF", "pharmacist", "day", start, until)
        if shift == "day" and rng.random() < 0.06:
            add("PART", "social-worker", "day", start, until)
        if handover:
            later = second + HANDOVER_OVERLAP if again else end
            add("SPRF", "nurse", other, first, later)
            if rng.random() < 0.6:
                add("ATND", "physician", other, first, later)
        if again:
            add("SPRF", "nurse", shift, second, end)
        if visit.admitted_to and end is not None:
            consult = max(start, end - 90)
            self._add(
                parts, "CON", self.pick(rng, consult, visit.admitted_to, "physician"), consult, end
            )
        return parts

    def _inpatient(
        self, rng: random.Random, visit: Visit, profile: PatientProfile
    ) -> list[Participation]:
        parts: list[Participation] = []
        ward, start, end = visit.micro, visit.start, visit.end
        stop = end if end is not None else self.clock.end
        if stop - start > 5 * 1440 and rng.random() < 0.7:
            split = start + (stop - start) // 2
            self._add(parts, "ATND", self.pick(rng, start, ward, "physician"), start, split)
            self._add(parts, "ATND", self.pick(rng, split, ward, "physician"), split, end)
        else:
            self._add(parts, "ATND", self.pick(rng, start, ward, "physician"), start, end)
        nurses = 2 + min(4, (stop - start) // 2880)
        step = (stop - start) // nurses
        for index in range(nurses):
            begin = start + index * step
            finish = end if index == nurses - 1 else begin + step
            self._add(parts, "SPRF", self.pick(rng, begin, ward, "nurse"), begin, finish)
        middle = start + (stop - start) // 3
        for discipline, chance in (("pharmacist", 0.5), ("therapist", 0.35)):
            if rng.random() < chance:
                self._add(parts, "SPRF", self.pick(rng, middle, ward, discipline), middle, end)
        social = 0.8 if visit.disposition in {"snf", "rehab", "long", "hosp"} else 0.2
        if rng.random() < social:
            self._add(parts, "PART", self.pick(rng, middle, ward, "social-worker"), middle, end)
        if profile.cancer and rng.random() < 0.5:
            oncologist = self._own(rng, profile.oncologist, middle, "oncology")
            self._add(parts, "CON", oncologist, middle, middle + 60)
        elif rng.random() < 0.08:
            others = [
                key for key, m in self.micros.items() if m.kind == "inpatient-ward" and key != ward
            ]
            if others:
                other = others[rng.randrange(len(others))]
                self._add(
                    parts, "CON", self.pick(rng, middle, other, "physician"), middle, middle + 45
                )
        return parts

    def _own(
        self, rng: random.Random, current: Staff | None, minute: int, micro: str
    ) -> Staff | None:
        """The patient's own clinician, reassigned when they no longer work in ``micro``."""
        month = self.clock.month_of(minute)
        if current is not None and current.home[month] == micro:
            return current
        core = self.rosters.core(month, micro, "physician")
        return core[rng.randrange(len(core))] if core else None

    def _oncology(
        self, rng: random.Random, visit: Visit, profile: PatientProfile
    ) -> list[Participation]:
        parts: list[Participation] = []
        start, end = visit.start, visit.end
        profile.oncologist = self._own(rng, profile.oncologist, start, "oncology")
        if profile.named_oncologist is None and profile.oncologist is not None:
            profile.named_oncologist = (profile.oncologist, self.clock.month_of(start))
        if visit.variant == "chemo":
            self._add(parts, "PPRF", self.pick(rng, start, "oncology", "nurse"), start, end)
            if rng.random() < 0.3:
                self._add(
                    parts, "SPRF", self.pick(rng, start, "oncology", "pharmacist"), start, end
                )
        elif visit.variant == "mdt":
            self._add(parts, "PPRF", profile.oncologist, start, end)
            if rng.random() < 0.4:
                self._add(parts, "SPRF", self.pick(rng, start, "oncology", "physician"), start, end)
            for discipline in ("nurse", "pharmacist", "social-worker"):
                if rng.random() < 0.8:
                    self._add(
                        parts, "SPRF", self.pick(rng, start, "oncology", discipline), start, end
                    )
        elif rng.random() < 0.15:
            self._add(parts, "PPRF", self.pick(rng, start, "oncology", "nurse"), start, end)
        else:
            own = rng.random() < 0.85
            clinician = (
                profile.oncologist if own else self.pick(rng, start, "oncology", "physician")
            )
            self._add(parts, "PPRF", clinician, start, end)
            for discipline in ("pharmacist", "social-worker"):
                if rng.random() < 0.04:
                    self._add(
                        parts, "SPRF", self.pick(rng, start, "oncology", discipline), start, end
                    )
        return parts

    def _primary_care(
        self, rng: random.Random, visit: Visit, profile: PatientProfile
    ) -> list[Participation]:
        parts: list[Participation] = []
        team, start, end = visit.micro, visit.start, visit.end
        profile.physician = self._own(rng, profile.physician, start, team)
        if profile.named_physician is None and profile.physician is not None:
            profile.named_physician = (profile.physician, self.clock.month_of(start))
        draw = rng.random()
        if draw < self.config.continuity:
            self._add(parts, "PPRF", profile.physician, start, end)
        elif draw < self.config.continuity + (1 - self.config.continuity) * 0.6:
            self._add(parts, "PPRF", self.pick(rng, start, team, "physician"), start, end)
        else:
            self._add(parts, "PPRF", self.pick(rng, start, team, "nurse"), start, end)
        if rng.random() < 0.35:
            self._add(parts, "SPRF", self.pick(rng, start, team, "nurse"), start, end)
        if rng.random() < 0.06:
            self._add(parts, "SPRF", self.pick(rng, start, team, "pharmacist"), start, end)
        if rng.random() < 0.04:
            self._add(parts, "PART", self.pick(rng, start, team, "social-worker"), start, end)
        return parts

    # -- the resource ---------------------------------------------------------------------

    def resource(
        self,
        rng: random.Random,
        encounter_id: str,
        visit: Visit,
        profile: PatientProfile,
        parts: list[Participation],
        style: RefStyle,
        diagnoses: list[tuple[str, str | None]],
    ) -> dict[str, Any]:
        """The Encounter; ``diagnoses`` are (Condition id, diagnosis-role code or None)."""
        clock, config, micro = self.clock, self.config, self.micros[visit.micro]
        class_code, class_display = CLASSES[visit.kind]
        if rng.random() < config.noisy(config.bad_class_noise):
            class_code, class_display = BAD_CLASS
        end = visit.end
        finished = end is not None
        period: dict[str, str] = {"start": clock.local(visit.start)}
        if end is not None and rng.random() >= config.noisy(config.missing_end_noise):
            period["end"] = clock.local(end)
        resource: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "finished" if finished else "in-progress",
            "class": coding(ACT_CODE, class_code, class_display),
            "type": [concept(SNOMED, *self._type(visit))],
            "subject": {"reference": style.local(profile.key)},
        }
        drop = finished and rng.random() < config.noisy(config.missing_participants_noise)
        if parts and not drop:
            resource["participant"] = [self._participant(p, style) for p in parts]
        resource["period"] = period
        reason = visit.problem or (CHECK_UP if visit.kind == "primary-care" else None)
        if visit.variant == "chemo":
            reason = CHEMOTHERAPY
        if reason:
            resource["reasonCode"] = [concept(SNOMED, *reason)]
        if diagnoses:
            resource["diagnosis"] = [
                self._diagnosis(condition, use, rank, style)
                for rank, (condition, use) in enumerate(diagnoses, start=1)
            ]
        hospitalization: dict[str, Any] = {}
        if visit.admit_source:
            hospitalization["admitSource"] = concept(
                ADMIT_SOURCE, visit.admit_source, _ADMIT_SOURCES[visit.admit_source]
            )
        if visit.disposition:
            display = DISPOSITIONS[visit.disposition]
            hospitalization["dischargeDisposition"] = concept(DISCHARGE, visit.disposition, display)
            if visit.disposition == "oth" and visit.admitted_to:
                hospitalization["dischargeDisposition"]["text"] = "Admitted as inpatient"
        if hospitalization:
            resource["hospitalization"] = hospitalization
        resource["location"] = self._locations(rng, visit, micro, style, period)
        resource["serviceProvider"] = {"reference": style.local(micro.organization)}
        return resource

    def _type(self, visit: Visit) -> tuple[str, str]:
        if visit.kind == "inpatient-ward" and visit.admit_source != "emd":
            return ENCOUNTER_TYPES["inpatient-direct"]
        if visit.kind == "oncology" and visit.variant == "mdt":
            return ENCOUNTER_TYPES["oncology-mdt"]
        return ENCOUNTER_TYPES[visit.kind]

    def _participant(self, part: Participation, style: RefStyle) -> dict[str, Any]:
        period = {"start": self.clock.local(part.start)}
        if part.end is not None and part.end <= self.clock.end:
            period["end"] = self.clock.local(part.end)
        month = self.clock.month_of(part.start)
        return {
            "type": _TYPE_CONCEPTS[part.type],
            "period": period,
            "individual": {"reference": style.staff(part.member, month)},
        }

    def _diagnosis(
        self, condition: str, use: str | None, rank: int, style: RefStyle
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"condition": {"reference": style.local(f"Condition/{condition}")}}
        if use:
            entry["use"] = concept(DIAGNOSIS_ROLE, use, _DIAGNOSIS_USES[use])
        entry["rank"] = rank
        return entry

    def _locations(
        self,
        rng: random.Random,
        visit: Visit,
        micro: Microsystem,
        style: RefStyle,
        period: dict[str, str],
    ) -> list[dict[str, Any]]:
        where = micro.locations[0]
        if micro.coarse_location and rng.random() < 0.2:
            where = micro.coarse_location
        status = "completed" if visit.end is not None else "active"
        entries = [
            {"location": {"reference": style.local(where)}, "status": status, "period": period}
        ]
        severe = visit.problem is not None and visit.problem[0] in {"91302008", "230690007"}
        if micro.room and (severe or visit.variant == "chemo"):
            entries.append(
                {
                    "location": {"reference": style.local(micro.room)},
                    "status": status,
                    "period": period,
                }
            )
        return entries
