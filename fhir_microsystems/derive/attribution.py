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

from fhir_microsystems.periods import Period

from .cohorts import ATTRIBUTED, SETTING_COHORTS, ConditionSpell, condition_cohorts_in
from .config import DerivationConfig
from .model import MicrosystemPeriod
from .records import EncounterRecord


def _fallback_reason(rec: EncounterRecord) -> str:
    if rec.participants:
        return "participants-not-members"
    if rec.unresolved_participants:
        return "unresolved-participants"
    return "no-participants-no-context"


def attribute_encounters(
    records: Sequence[EncounterRecord], microsystems: Sequence[MicrosystemPeriod]
) -> tuple[dict[str, str], Counter[str]]:
    """``(encounter key -> microsystem id, reason -> unattributed count)`` for one period."""
    by_member: dict[str, list[tuple[str, int, MicrosystemPeriod]]] = {}
    for item in microsystems:
        for person, member in item.members.items():
            by_member.setdefault(person, []).append((item.id, int(member.core), item))
    attribution: dict[str, str] = {}
    waiting: list[EncounterRecord] = []
    places: dict[str, Counter[str]] = {}
    for rec in records:
        votes: dict[str, int] = {}
        cores: dict[str, int] = {}
        found: dict[str, MicrosystemPeriod] = {}
        for person in rec.participants:
            for ident, core, item in by_member.get(person, ()):
                votes[ident] = votes.get(ident, 0) + 1
                cores[ident] = cores.get(ident, 0) + core
                found[ident] = item
        if not votes:
            waiting.append(rec)
            continue
        if len(votes) == 1:
            chosen = next(iter(votes))
        else:
            chosen = min(
                votes,
                key=lambda i: (
                    -votes[i],
                    -cores[i],
                    found[i].organization != rec.context,
                    found[i].location != rec.location,
                    found[i].explicit_careteam is None,
                    i,
                ),
            )
        attribution[rec.key] = chosen
        for place in _places(rec):
            tally = places.get(place)
            if tally is None:
                tally = places[place] = Counter()
            tally[chosen] += 1
    unattributed: Counter[str] = Counter()
    for rec in waiting:
        chosen_id = _by_place(rec, places)
        if chosen_id is None:
            unattributed[_fallback_reason(rec)] += 1
        else:
            attribution[rec.key] = chosen_id
    return attribution, unattributed


def _places(rec: EncounterRecord) -> list[str]:
    return [
        f"{kind}:{value}"
        for kind, value in (
            ("location", rec.location),
            ("context", rec.context),
            ("provider", rec.service_provider),
        )
        if value
    ]


def _by_place(rec: EncounterRecord, places: Mapping[str, Counter[str]]) -> str | None:
    for place in _places(rec):
        tally = places.get(place)
        if tally:
            return min(tally, key=lambda i: (-tally[i], i))
    return None


def attribute_patients(
    records: Sequence[EncounterRecord],
    attribution: Mapping[str, str],
    config: DerivationConfig,
) -> dict[str, set[str]]:
    """Microsystem id -> its patient group: every patient with at least
    ``patient_min_encounters`` of the period's encounters attributed to it (a patient seen by
    two microsystems is in both groups, so every microsystem that served patients has a
    group for its clinical measures)."""
    counts: dict[tuple[str, str], int] = {}
    for rec in records:
        chosen = attribution.get(rec.key)
        if chosen is None or rec.patient is None:
            continue
        pair = (chosen, rec.patient)
        counts[pair] = counts.get(pair, 0) + 1
    least = config.patient_min_encounters
    out: dict[str, set[str]] = {}
    for (chosen, patient), count in counts.items():
        if count >= least:
            out.setdefault(chosen, set()).add(patient)
    return out


def cohorts(
    patients: Mapping[str, set[str]],
    records: Sequence[EncounterRecord],
    attribution: Mapping[str, str],
    spells: Mapping[str, Sequence[ConditionSpell]],
    period: Period,
) -> dict[str, dict[str, frozenset[str]]]:
    """Microsystem id -> cohort code -> patient keys, for one period.

    ``attributed`` holds the patients attributed to the microsystem; each setting cohort
    every patient with an encounter of that class attributed to it; each condition cohort
    the attributed patients with the condition active in the period.
    """
    wanted = {klass: name for name, klass in SETTING_COHORTS.items()}
    found: dict[str, dict[str, set[str]]] = {}

    def slot(ms: str) -> dict[str, set[str]]:
        if ms not in found:
            found[ms] = {name: set() for name in (ATTRIBUTED, *SETTING_COHORTS)}
        return found[ms]

    for rec in records:
        chosen = attribution.get(rec.key)
        if chosen is not None and rec.patient and rec.class_code in wanted:
            slot(chosen)[wanted[rec.class_code]].add(rec.patient)
    for ms, group in patients.items():
        target = slot(ms)
        target[ATTRIBUTED] |= group
        for patient in group:
            for name in condition_cohorts_in(spells.get(patient, ()), period):
                target.setdefault(name, set()).add(patient)
    return {
        ms: {name: frozenset(ids) for name, ids in sorted(groups.items())}
        for ms, groups in found.items()
    }


__all__ = ["attribute_encounters", "attribute_patients", "cohorts"]
