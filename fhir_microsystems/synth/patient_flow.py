"""Writes one patient at a time: visits, Encounters, Observations, Conditions, CareTeam."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .careteams import patient_careteam
from .clock import Clock
from .config import SynthConfig
from .effects import Effect
from .encounters import EncounterBuilder, Participation
from .hospital import Microsystem
from .ids import derive_rng, uuid_from
from .observations import ObservationWriter, Subject
from .patients import PatientProfile, acute_condition, condition_resource, make_profile
from .patients import patient_resource as build_patient
from .references import draw_style
from .rosters import Rosters
from .staffing import Staff
from .timeline import Visit, plan_visits
from .truth import GroundTruth


class PatientFlow:
    """Everything shared by the patients of one run; :meth:`write` handles one patient."""

    def __init__(
        self,
        seed: int,
        config: SynthConfig,
        clock: Clock,
        micros: dict[str, Microsystem],
        rosters: Rosters,
        effects: dict[str, Effect],
        emit: Callable[[dict[str, Any]], None],
        truth: GroundTruth,
        lead_system: str,
    ) -> None:
        self.seed = seed
        self.config = config
        self.clock = clock
        self.micros = micros
        self.rosters = rosters
        self.effects = effects
        self.emit = emit
        self.truth = truth
        self.lead_system = lead_system
        self._builder = EncounterBuilder(config, clock, rosters, micros)
        self._observations = ObservationWriter(config, clock, emit)
        self._wards = [k for k, m in micros.items() if m.kind == "inpatient-ward"]
        self._teams = [k for k, m in micros.items() if m.kind == "primary-care"]

    def write(self, index: int) -> None:
        """Generate and write patient ``index`` and everything about them."""
        rng = derive_rng(self.seed, "patient", index)
        profile = make_profile(rng, index, self.clock, self.config, self._teams)
        visits = plan_visits(rng, profile, self.clock, self.config, self._wards, self.effects)
        ed_condition: str | None = None
        first_seen: dict[str, int] = {}
        for visit in visits:
            first_seen.setdefault(visit.kind, visit.start)
            ed_condition = self._encounter(rng, visit, profile, ed_condition)
        self._patient_careteam(rng, profile, first_seen)
        gp = None
        if profile.named_physician:
            member, month = profile.named_physician
            gp = draw_style(rng, self.config).staff(member, month)
        self.emit(build_patient(profile, self.clock, self.config.base_url, gp))
        for condition in profile.conditions:
            self.emit(condition_resource(condition, profile.key))

    def _encounter(
        self, rng: random.Random, visit: Visit, profile: PatientProfile, ed_condition: str | None
    ) -> str | None:
        """Write one visit; returns the ED Condition id its admission will name."""
        encounter_id = uuid_from(rng)
        encounter = f"Encounter/{encounter_id}"
        style = draw_style(rng, self.config)
        parts = self._builder.participants(rng, visit, profile)
        diagnoses: list[tuple[str, str | None]] = []
        next_condition = None
        if visit.kind == "emergency" or (
            visit.kind == "inpatient-ward" and (visit.admit_source != "emd" or not ed_condition)
        ):
            condition_id = uuid_from(rng)
            abated = self.clock.local(visit.end) if visit.end is not None else None
            assert visit.problem is not None
            self.emit(
                acute_condition(
                    condition_id,
                    visit.problem,
                    profile.key,
                    encounter,
                    self.clock.local(visit.start),
                    abated,
                )
            )
            diagnoses.append((condition_id, "CC" if visit.kind == "emergency" else "AD"))
            if visit.admitted_to:
                next_condition = condition_id
        elif visit.kind == "inpatient-ward" and ed_condition:
            diagnoses.append((ed_condition, "AD"))
        if visit.kind == "oncology" and profile.cancer:
            diagnoses.append((profile.cancer.id, None))
        elif visit.kind != "oncology":
            use = None if visit.kind == "primary-care" else "CM"
            diagnoses += [
                (c.id, use) for c in (profile.diabetes, profile.hypertension) if c is not None
            ]
        resource = self._builder.resource(
            rng, encounter_id, visit, profile, parts, style, diagnoses
        )
        self.emit(resource)
        if "participant" in resource:
            for part in parts:
                if part.type != "CON":
                    self.rosters.record(self.clock.month_of(part.start), visit.micro, part.member)
        month = self.clock.month_of(visit.start)
        self.truth.encounter(encounter_id, month, visit.micro)
        nurse = _first_nurse(parts) if rng.random() < 0.5 else None
        subject = Subject(
            style.local(profile.key),
            style.local(encounter),
            style.staff(nurse.member, self.clock.month_of(nurse.start)) if nurse else None,
        )
        self._observations.for_visit(rng, visit, profile, subject, self.effects[visit.micro])
        return next_condition

    def _patient_careteam(
        self, rng: random.Random, profile: PatientProfile, first_seen: dict[str, int]
    ) -> None:
        """A longitudinal CareTeam for some oncology and primary-care patients (never updated)."""
        if rng.random() >= self.config.patient_careteam_rate:
            return
        members: list[tuple[Staff, int, bool]] = []
        if profile.named_oncologist and "oncology" in first_seen:
            start, micro = first_seen["oncology"], self.micros["oncology"]
            oncologist, month = profile.named_oncologist
            members.append((oncologist, month, True))
            nurses = self.rosters.core(month, "oncology", "nurse")
            if nurses:
                members.append((nurses[rng.randrange(len(nurses))], month, False))
            if profile.named_physician:
                members.append((*profile.named_physician, False))
            name = "Oncology care team"
        elif profile.named_physician and profile.team:
            member, month = profile.named_physician
            start, micro = first_seen["primary-care"], self.micros[profile.team]
            members.append((member, month, True))
            nurses = self.rosters.core(month, profile.team, "nurse")
            if nurses:
                members.append((nurses[rng.randrange(len(nurses))], month, False))
            name = "Primary care team"
        else:
            return
        style = draw_style(rng, self.config)
        self.emit(
            patient_careteam(
                uuid_from(rng),
                profile.key,
                name,
                self.clock.local_date(start),
                members,
                micro.organization,
                style,
                self.lead_system,
            )
        )


def _first_nurse(parts: list[Participation]) -> Participation | None:
    return next((p for p in parts if p.member.discipline == "nurse"), None)
