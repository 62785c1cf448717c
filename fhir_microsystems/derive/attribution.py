"""Encounters and patients of each microsystem in one period, and its cohorts.

Encounter: the microsystem with most of its participants as members (ties: more of them
core, same organisation, same location, an explicit CareTeam, then the lowest id). Without
usable participants: the microsystem holding most of the period's encounters at the same
Location, else in the same organisation context, else of the same serviceProvider.
Patients: a microsystem's patient group holds every patient with at least
``patient_min_encounters`` (default 1) of its period encounters; a patient seen by two
microsystems is in both groups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import pyarrow as pa

from fhir_microsystems.periods import Period

from ._db import STEPS, numbered, registered
from .cohorts import ATTRIBUTED, SETTING_COHORTS, Spells
from .config import DerivationConfig
from .model import MicrosystemPeriod
from .records import EncounterRows


def attribute_encounters(
    period_rows: EncounterRows, microsystems: Sequence[MicrosystemPeriod]
) -> tuple[dict[str, str], Counter[str]]:
    """``(encounter key -> microsystem id, reason -> unattributed count)`` for one period
    (attributed by participants first, then by place, each in record order)."""
    members = [
        (item.id, person, int(m.core))
        for item in microsystems
        for person, m in item.members.items()
    ]
    tables = {
        "win": numbered(
            period_rows.table.select(
                [
                    "key",
                    "participants",
                    "unresolved_participants",
                    "location",
                    "context",
                    "service_provider",
                ]
            )
        ),
        "members": pa.table(
            {
                "ms": pa.array([m[0] for m in members], pa.string()),
                "person": pa.array([m[1] for m in members], pa.string()),
                "core": pa.array([m[2] for m in members], pa.int64()),
            }
        ),
        "systems": pa.table(
            {
                "ms": pa.array([item.id for item in microsystems], pa.string()),
                "org": pa.array([item.organization for item in microsystems], pa.string()),
                "loc": pa.array([item.location for item in microsystems], pa.string()),
                "no_team": pa.array(
                    [item.explicit_careteam is None for item in microsystems], pa.bool_()
                ),
            }
        ),
    }
    with registered(**tables) as con:
        found = con.sql(STEPS["attribute"]).to_arrow_table()
    keys, chosen, reasons = (found[name].to_pylist() for name in ("key", "ms", "reason"))
    attribution = {key: ms for key, ms in zip(keys, chosen, strict=True) if ms is not None}
    return attribution, Counter(reason for reason in reasons if reason is not None)


def _attributed(served: EncounterRows, attribution: Mapping[str, str]) -> dict[str, pa.Table]:
    """``served`` (key, patient, class) and ``att`` (key, ms) for the SQL of a period."""
    return {
        "served": served.table.select(["key", "patient", "class_code"]),
        "att": pa.table(
            {
                "key": pa.array(list(attribution), pa.string()),
                "ms": pa.array(list(attribution.values()), pa.string()),
            }
        ),
    }


def attribute_patients(
    served: EncounterRows,
    attribution: Mapping[str, str],
    config: DerivationConfig,
) -> dict[str, set[str]]:
    """Microsystem id -> its patient group: every patient with at least
    ``patient_min_encounters`` of the period's encounters attributed to it (a patient seen by
    two microsystems is in both groups, so every microsystem that served patients has a
    group for its clinical measures)."""
    with registered(**_attributed(served, attribution)) as con:
        found = con.execute(STEPS["patients"], {"least": config.patient_min_encounters}).fetchall()
    return {chosen: set(patients) for chosen, patients in found}


def cohorts(
    patients: Mapping[str, set[str]],
    served: EncounterRows,
    attribution: Mapping[str, str],
    spells: Spells,
    period: Period,
) -> dict[str, dict[str, frozenset[str]]]:
    """Microsystem id -> cohort code -> patient keys, for one period.

    ``attributed`` holds the patients attributed to the microsystem; each setting cohort
    every patient with an encounter of that class attributed to it; each condition cohort
    the attributed patients with a spell of the condition that overlaps the period.
    """
    found: dict[str, dict[str, set[str]]] = {}

    def slot(ms: str) -> dict[str, set[str]]:
        if ms not in found:
            found[ms] = {name: set() for name in (ATTRIBUTED, *SETTING_COHORTS)}
        return found[ms]

    wanted = pa.table(
        {"class_code": list(SETTING_COHORTS.values()), "cohort": list(SETTING_COHORTS)}
    )
    grouped = pa.table(
        {
            "ms": pa.array([ms for ms, group in patients.items() for _ in group], pa.string()),
            "patient": pa.array([p for group in patients.values() for p in group], pa.string()),
        }
    )
    tables = _attributed(served, attribution)
    bounds = {"start": period.start, "end": period.end}
    with registered(**tables, wanted=wanted, grouped=grouped, spells=spells.table) as con:
        settings = con.execute(STEPS["settings"]).fetchall()
        conditions = con.execute(STEPS["conditions"], bounds).fetchall()
    for chosen, name, listed in settings:
        slot(chosen)[name].update(listed)
    for ms, group in patients.items():
        slot(ms)[ATTRIBUTED] |= group
    for chosen, name, listed in conditions:
        slot(chosen).setdefault(name, set()).update(listed)
    return {
        ms: {name: frozenset(ids) for name, ids in sorted(groups.items())}
        for ms, groups in found.items()
    }


__all__ = ["attribute_encounters", "attribute_patients", "cohorts"]
