"""Ground truth: the microsystems, their monthly rosters and events, who delivered what."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import IO, Any

import orjson

from .clock import Clock
from .config import SynthConfig
from .effects import Effect
from .hospital import Hospital
from .rosters import Rosters
from .staffing import StaffPlan
from .vocab import NPI

SCHEMA = "fhir-microsystems/ground-truth/1"
TRUTH_FILE = "ground-truth.json"
ENCOUNTERS_FILE = "ground-truth-encounters.ndjson"


class GroundTruth:
    """Streams ``ground-truth-encounters.ndjson``; :meth:`finish` writes ``ground-truth.json``."""

    def __init__(self, out_dir: Path, clock: Clock) -> None:
        self.out_dir = out_dir
        self.clock = clock
        self.counts: Counter[tuple[int, str]] = Counter()
        self.encounters_path = out_dir / ENCOUNTERS_FILE
        self.path = out_dir / TRUTH_FILE
        self._file: IO[bytes] = self.encounters_path.open("wb", buffering=1 << 20)

    def encounter(self, encounter_id: str, month: int, micro: str) -> None:
        """Record that ``micro`` delivered the encounter (month of its start, UTC)."""
        self.counts[(month, micro)] += 1
        line = {
            "encounter": f"Encounter/{encounter_id}",
            "month": self.clock.labels[month],
            "microsystem": micro,
        }
        self._file.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        self._file.close()

    def finish(
        self,
        *,
        seed: int,
        patients: int,
        config: SynthConfig,
        hospital: Hospital,
        plan: StaffPlan,
        rosters: Rosters,
        effects: dict[str, Effect],
    ) -> Path:
        """Write ``ground-truth.json`` and close the encounter stream."""
        self.close()
        clock = self.clock
        periods = []
        for month, label in enumerate(clock.labels):
            entry: dict[str, Any] = {}
            for micro in hospital.microsystems:
                core = plan.core(month, micro.key)
                occasional = [
                    plan.staff[index] for index in sorted(rosters.occasional[(month, micro.key)])
                ]
                entry[micro.key] = {
                    "core": sorted(m.key for m in core),
                    "occasional": sorted(m.key for m in occasional),
                    "identifiers": {
                        m.key: f"{NPI}|{m.npi}"
                        for m in sorted(core + occasional, key=lambda s: s.key)
                    },
                    "encounters": self.counts[(month, micro.key)],
                }
            periods.append({"month": label, "microsystems": entry})
        truth = {
            "schema": SCHEMA,
            "seed": seed,
            "start": clock.start.isoformat(),
            "months": clock.months,
            "patients": patients,
            "base_url": config.base_url,
            "config": config.to_json(patients),
            "macrosystem": hospital.macrosystem,
            "mesosystems": [
                {"organization": org, "name": name} for org, name in hospital.mesosystems
            ],
            "microsystems": [
                {
                    "key": micro.key,
                    "name": micro.name,
                    "kind": micro.kind,
                    "organization": micro.organization,
                    "mesosystem": micro.mesosystem,
                    "locations": micro.locations,
                    "careteam": f"CareTeam/{micro.careteam_id}",
                }
                for micro in hospital.microsystems
            ],
            "periods": periods,
            "events": [
                {
                    "month": clock.labels[event.month],
                    "practitioner": event.staff.key,
                    "type": event.type,
                    "from": event.source,
                    "to": event.target,
                }
                for event in plan.events
            ],
            "performance": {
                key: {
                    "systolic_shift": effect.systolic,
                    "hba1c_shift": effect.hba1c,
                    "los_factor": effect.los,
                    "readmission_factor": effect.readmission,
                }
                for key, effect in effects.items()
            },
            "encounters_file": ENCOUNTERS_FILE,
        }
        self.path.write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")
        return self.path
