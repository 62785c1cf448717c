"""``derive``: from a source to microsystems, attributions and cohorts for every period."""

from __future__ import annotations

import bisect
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fhir_microsystems._errors import InputError
from fhir_microsystems._findings import Findings
from fhir_microsystems.periods import (
    Granularity,
    Period,
    period_containing,
    split_periods,
    to_utc,
    trailing_periods,
)
from fhir_microsystems.sources import ReferenceIndex, Source

from .attribution import attribute_encounters, attribute_patients, cohorts
from .careteams import ExplicitTeam, read_explicit_teams, teams_in_force
from .cohorts import ConditionSpell, read_condition_spells
from .config import DerivationConfig
from .identity import DraftView, Known, assign_identities
from .joining import activity_profiles, join_by_careteams, join_shifts, make_clusters
from .membership import Draft, assemble
from .model import Derivation, MicrosystemPeriod
from .network import build_network, communities, home_contexts
from .records import EncounterRecord, iter_encounter_records

log = logging.getLogger(__name__)

_DEFAULT_CONFIG = DerivationConfig()


def derive(
    source: Source,
    index: ReferenceIndex,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    period: Granularity = "month",
    config: DerivationConfig = _DEFAULT_CONFIG,
    findings: Findings | None = None,
) -> Derivation:
    """Derive clinical microsystems, their patients and cohorts for every period.

    Streams Encounters, CareTeams and Conditions once. ``[start, end)`` is covered by whole
    periods of ``period`` granularity; without ``start``/``end`` the 12 months up to the
    latest encounter are used. Bad input is recorded in ``findings`` (default: the
    source's), never raised; every encounter read is either attributed or counted in
    ``Derivation.unattributed`` by reason.
    """
    findings = findings if findings is not None else source.findings
    stats: Counter[str] = Counter()
    unattributed: Counter[str] = Counter()
    encounters: dict[str, EncounterRecord] = {}
    for rec in iter_encounter_records(source, index, findings):
        if rec.key in encounters:
            findings.add("duplicate-resource", rec.key, "Encounter.id", "encounter read twice")
            unattributed["duplicate"] += 1
            continue
        encounters[rec.key] = rec
    stats["encounters-read"] = len(encounters) + unattributed["duplicate"]
    periods = _periods(encounters.values(), start, end, period)
    teams = read_explicit_teams(source, index, findings, config, stats)
    spells = read_condition_spells(source, index, findings)
    usable = _usable(encounters.values(), periods, config, unattributed)
    derivation = Derivation(
        periods=periods,
        microsystems={},
        encounter_attribution={},
        unattributed=unattributed,
        encounters=encounters,
        config=config,
        stats=stats,
    )
    known: dict[str, Known] = {}
    stamps = [rec.start.timestamp() for rec in usable if rec.start is not None]
    inputs = _Inputs(usable, stamps, teams, spells, index, config, stats)
    for number, current in enumerate(periods):
        items, attribution, missing = _derive_period(current, number, inputs, known)
        derivation.microsystems[current.label] = items
        derivation.encounter_attribution[current.label] = attribution
        unattributed.update(missing)
        for item in items:
            known[item.id] = Known(
                item.id,
                _basis(item),
                item.members,
                number,
                item.first_period,
                item.explicit_careteam,
                item.organization,
                known[item.id].basis if item.id in known else frozenset(),
            )
        stats["microsystem-periods"] += len(items)
        log.info(
            "period %s: %d microsystems, %d encounters attributed, %d not",
            current.label,
            len(items),
            len(attribution),
            sum(missing.values()),
        )
    return derivation


def _lead(draft: Draft, period: Period) -> str | None:
    """The explicit team's lead in ``period`` when the lead is a member of the draft."""
    team = draft.cluster.team
    lead = team.lead_in(period) if team else None
    return lead if lead in draft.members else None


def _basis(item: MicrosystemPeriod) -> frozenset[str]:
    return item.core_members or frozenset(item.members)


def _periods(
    records: Iterable[EncounterRecord],
    start: datetime | None,
    end: datetime | None,
    granularity: Granularity,
) -> list[Period]:
    if start is not None and end is not None:
        found = split_periods(start, end, granularity)
        if not found:
            raise InputError("derive: end must be after start", start=str(start), end=str(end))
        return found
    starts = [r.start for r in records if r.start is not None]
    if end is not None:
        return split_periods(start or to_utc(end) - timedelta(days=365), end, granularity)
    if not starts:
        return []
    latest = max(starts)
    if start is not None:
        return split_periods(start, period_containing(latest, granularity).end, granularity)
    # The trailing year, but no periods before the data begin (they would be empty).
    first = period_containing(min(starts), granularity).start
    return [p for p in trailing_periods(latest, granularity) if p.end > first]


def _usable(
    records: Iterable[EncounterRecord],
    periods: Sequence[Period],
    config: DerivationConfig,
    unattributed: Counter[str],
) -> list[EncounterRecord]:
    """Records that can feed the networks, sorted by start; counts those that cannot and
    those outside the periods (these may still feed the first period's look-back)."""
    first = periods[0].start - timedelta(days=config.lookback_days) if periods else None
    last = periods[-1].end if periods else None
    usable = []
    for rec in records:
        if rec.status in config.excluded_statuses:
            unattributed[f"status-{rec.status}"] += 1
        elif rec.start is None:
            unattributed["no-start"] += 1
        elif first is None or last is None or rec.start >= last:
            unattributed["outside-periods"] += 1
        else:
            if rec.start < periods[0].start:
                unattributed["outside-periods"] += 1
            if rec.start >= first:
                usable.append(rec)
    usable.sort(key=lambda r: (r.start, r.key))
    return usable


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What every period's derivation reads: usable records (sorted by start) and their
    start stamps, explicit teams, condition spells, the index and the configuration."""

    usable: Sequence[EncounterRecord]
    stamps: Sequence[float]
    teams: Sequence[ExplicitTeam]
    spells: dict[str, list[ConditionSpell]]
    index: ReferenceIndex
    config: DerivationConfig
    stats: Counter[str]


def _derive_period(
    current: Period, number: int, inputs: _Inputs, known: dict[str, Known]
) -> tuple[list[MicrosystemPeriod], dict[str, str], Counter[str]]:
    usable, stamps, teams, spells = inputs.usable, inputs.stamps, inputs.teams, inputs.spells
    index, config = inputs.index, inputs.config
    window_start = current.start - timedelta(days=config.lookback_days)
    lo = bisect.bisect_left(stamps, window_start.timestamp())
    mid = bisect.bisect_left(stamps, current.start.timestamp())
    hi = bisect.bisect_left(stamps, current.end.timestamp())
    window, period_records = usable[lo:hi], usable[mid:hi]
    window_days = (current.end - window_start).total_seconds() / 86400
    homes = home_contexts(window, index, config)
    graph = build_network(window, config, window_days, current.start)
    clusters = make_clusters(communities(graph, homes, config), homes)
    clusters = join_by_careteams(clusters, teams_in_force(teams, current), current, config)
    previous = {
        person: k.id
        for k in sorted(known.values(), key=lambda k: k.id, reverse=True)
        if k.period_index == number - 1
        for person in k.basis
    }
    clusters = join_shifts(clusters, activity_profiles(window), config, previous)
    drafts = sorted(
        assemble(period_records, clusters, index, config),
        key=lambda d: (d.organization or "", sorted(d.basis)),
    )
    inputs.stats["explicit-members-idle"] += sum(d.idle_explicit for d in drafts)
    identities = assign_identities(
        [
            DraftView(
                d.organization,
                d.basis,
                d.members,
                d.cluster.team.key if d.cluster.team else None,
            )
            for d in drafts
        ],
        known,
        number,
        current.label,
        config,
    )
    names = microsystem_names(drafts, index)
    items = [
        MicrosystemPeriod(
            id=ident.id,
            period=current,
            organization=draft.organization,
            location=draft.location,
            name=name,
            members=draft.members,
            patients=frozenset(),
            encounter_ids=frozenset(),
            explicit_careteam=draft.cluster.team.key if draft.cluster.team else None,
            lead=_lead(draft, current),
            stability=ident.stability,
            events=ident.events,
            split_from=ident.split_from,
            merged_from=ident.merged_from,
            first_period=ident.first_period,
        )
        for draft, ident, name in zip(drafts, identities, names, strict=True)
    ]
    attribution, missing = attribute_encounters(period_records, items)
    patients = attribute_patients(period_records, attribution, config)
    groups = cohorts(patients, period_records, attribution, spells, current)
    by_ms: dict[str, set[str]] = {}
    for key, ms in attribution.items():
        by_ms.setdefault(ms, set()).add(key)
    items = [
        replace(
            item,
            patients=frozenset(patients.get(item.id, ())),
            encounter_ids=frozenset(by_ms.get(item.id, ())),
            cohorts=groups.get(item.id, {}),
        )
        for item in items
    ]
    return items, attribution, missing


def microsystem_names(drafts: Sequence[Draft], index: ReferenceIndex) -> list[str]:
    """Readable names: the team's, else the organisation's (with the location's when that
    tells microsystems of one organisation apart), numbered when still ambiguous."""
    bases = []
    for draft in drafts:
        team = draft.cluster.team
        org_name = index.organization_names.get(draft.organization or "", "")
        loc_name = index.location_names.get(draft.location or "", "")
        base = (team.name if team and team.name else "") or org_name or loc_name or "Microsystem"
        bases.append((base, loc_name))
    plain = Counter(base for base, _ in bases)
    with_location = Counter(
        f"{base} - {loc}" if loc and loc != base else base for base, loc in bases
    )
    names, seen = [], Counter[str]()
    for base, loc in bases:
        name = base
        if plain[base] > 1 and loc and loc != base:
            name = f"{base} - {loc}"
        if plain[base] > 1 and (not loc or loc == base or with_location[name] > 1):
            seen[name] += 1
            name = f"{name} (team {seen[name]})"
        names.append(name)
    return names


__all__ = ["derive", "microsystem_names"]
