"""The entry point: :func:`generate` writes a whole synthetic hospital to a directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fhir_microsystems._errors import ConfigurationError

from .careteams import team_states, unit_careteams
from .clock import Clock
from .config import SynthConfig
from .effects import draw_effects
from .hospital import build_hospital
from .ids import derive_rng
from .patient_flow import PatientFlow
from .practitioners import practitioner, practitioner_roles
from .rosters import Rosters
from .staffing import plan_staff
from .truth import GroundTruth
from .vocab import local_system
from .writer import BulkWriter, write_manifest

#: How often (in patients) ``on_progress`` hears about the patient stage.
PROGRESS_EVERY = 1000


@dataclass(frozen=True, slots=True)
class SynthSummary:
    """What :func:`generate` wrote."""

    out_dir: Path
    #: Resources written per resource type.
    counts: dict[str, int]
    seconds: float
    #: NDJSON file per resource type.
    files: dict[str, Path]
    manifest: Path
    ground_truth: Path
    ground_truth_encounters: Path

    @property
    def total(self) -> int:
        """All resources written."""
        return sum(self.counts.values())


def generate(
    out_dir: Path,
    *,
    seed: int = 1,
    patients: int = 2000,
    start: date = date(2025, 1, 1),
    months: int = 12,
    config: SynthConfig | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> SynthSummary:
    """Write a synthetic hospital (Bulk-Data NDJSON, manifest, ground truth) to ``out_dir``.

    The same arguments give the same bytes. The window starts on the first day of
    ``start``'s month and spans ``months`` UTC calendar months. Patients are generated and
    written one at a time, so memory stays flat as ``patients`` grows. ``on_progress`` is
    called as ``(stage, count)`` with stages ``structure``, ``patients`` (every
    :data:`PROGRESS_EVERY` patients and at the end) and ``done`` (total resources).
    """
    if patients < 1:
        raise ConfigurationError("patients must be >= 1", knob="patients")
    config = config or SynthConfig()
    began = time.perf_counter()
    clock = Clock(start, months, config.utc_offset)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hospital = build_hospital(
        derive_rng(seed, "structure"),
        config.base_url,
        config.resolved_wards(patients),
        config.resolved_primary_care_teams(patients),
    )
    micros = hospital.by_key()
    plan = plan_staff(
        derive_rng(seed, "staff"),
        hospital,
        months,
        clock.month_dates,
        scale=config.resolved_scale(patients),
        float_rate=config.float_rate,
        turnover=config.staff_turnover,
        move_share=config.move_share,
        replace_rate=config.replace_rate,
    )
    effects = draw_effects(derive_rng(seed, "effects"), hospital)
    rosters = Rosters(plan, months, config.cover_rate)
    lead_system = local_system(config.base_url, "care-team-role")
    with BulkWriter(out_dir) as writer:
        for resource in hospital.organizations + hospital.locations:
            writer.write(resource)
        for member in plan.staff:
            writer.write(practitioner(member, months))
            for role in practitioner_roles(member, micros, clock.month_dates):
                writer.write(role)
        teams_rng = derive_rng(seed, "careteams")
        states = team_states(
            teams_rng,
            hospital.microsystems,
            config.careteam_stale_rate,
            config.careteam_partial_rate,
        )
        for team in unit_careteams(
            teams_rng,
            plan,
            hospital.microsystems,
            states,
            months,
            clock.month_dates,
            lead_system,
        ):
            writer.write(team)
        if on_progress:
            on_progress("structure", sum(writer.counts.values()))
        truth = GroundTruth(out_dir, clock)
        try:
            flow = PatientFlow(
                seed, config, clock, micros, rosters, effects, writer.write, truth, lead_system
            )
            for index in range(patients):
                flow.write(index)
                if on_progress and (index + 1) % PROGRESS_EVERY == 0:
                    on_progress("patients", index + 1)
        finally:
            truth.close()
        if on_progress and patients % PROGRESS_EVERY:
            on_progress("patients", patients)
    truth_path = truth.finish(
        seed=seed,
        patients=patients,
        config=config,
        hospital=hospital,
        plan=plan,
        rosters=rosters,
        effects=effects,
    )
    manifest = write_manifest(out_dir, config.base_url, clock.utc(clock.end), writer.counts)
    counts = dict(writer.counts)
    if on_progress:
        on_progress("done", sum(counts.values()))
    return SynthSummary(
        out_dir=out_dir,
        counts=counts,
        seconds=time.perf_counter() - began,
        files=dict(writer.paths),
        manifest=manifest,
        ground_truth=truth_path,
        ground_truth_encounters=truth.encounters_path,
    )
