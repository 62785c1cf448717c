"""``derive``: from a source to microsystems, attributions and cohorts for every period."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

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

from ._db import STEPS, numbered, registered
from .attribution import attribute_encounters, attribute_patients, cohorts
from .careteams import ExplicitTeam, read_explicit_teams, teams_in_force
from .cohorts import Spells, read_condition_spells
from .config import DerivationConfig
from .identity import DraftView, Known, assign_identities
from .joining import activity_profiles, join_by_careteams, join_shifts, make_clusters
from .membership import Draft, assemble
from .model import Derivation, Member, MicrosystemPeriod
from .network import home_contexts, network_communities
from .records import (
    RECORD_FIELDS,
    RECORD_SCHEMA,
    EncounterRecord,
    EncounterRows,
    iter_encounter_records,
)

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
    ``Derivation.unattributed`` by reason. This holds every encounter in memory; the
    pipeline's derive stage runs the same steps over month buckets (:func:`derive_periods`).
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
    starts = [r.start for r in encounters.values() if r.start is not None]
    periods = plan_periods(min(starts, default=None), max(starts, default=None), start, end, period)
    teams = read_explicit_teams(source, index, findings, config, stats)
    spells = read_condition_spells(source, index, findings)
    usable, reasons = classified(EncounterRows.of(encounters.values()), periods, config)
    unattributed.update(reasons)
    derivation = Derivation(
        periods=periods,
        microsystems={},
        encounter_attribution={},
        unattributed=unattributed,
        encounters=encounters,
        config=config,
        stats=stats,
    )

    def window(lo: datetime, hi: datetime) -> EncounterRows:
        return usable.starting(lo, hi)

    for outcome in derive_periods(periods, window, teams, spells, index, config, stats):
        derivation.microsystems[outcome.period.label] = outcome.items
        derivation.encounter_attribution[outcome.period.label] = outcome.attribution
        derivation.ending_attribution[outcome.period.label] = outcome.ending
        unattributed.update(outcome.missing)
    return derivation


@dataclass(frozen=True, slots=True)
class PeriodOutcome:
    """One period's microsystems, encounter attribution and unattributed counts by reason.

    ``ending`` attributes the encounters that started in an earlier period and end in this
    one to the microsystem they were attributed to (a continuation version of it when it
    had none here, see :func:`continuations`); ``ending_records`` are their records.
    """

    period: Period
    items: list[MicrosystemPeriod]
    attribution: dict[str, str]
    missing: Counter[str]
    ending: dict[str, str] = field(default_factory=dict)
    ending_records: tuple[EncounterRecord, ...] = ()


#: ``window(lo, hi)``: the usable records starting in ``[lo, hi)``, in record order (by start,
#: then key).
Window = Callable[[datetime, datetime], EncounterRows]


def derive_periods(
    periods: Sequence[Period],
    window: Window,
    teams: Sequence[ExplicitTeam],
    spells: Spells,
    index: ReferenceIndex,
    config: DerivationConfig = _DEFAULT_CONFIG,
    stats: Counter[str] | None = None,
) -> Iterator[PeriodOutcome]:
    """Derive the periods in order, one at a time (identities carry over between them).

    Only ``window`` is asked for encounters: the look-back and the period of each period
    in turn, so a caller can hold just those in memory.
    """
    stats = stats if stats is not None else Counter()
    known: dict[str, Known] = {}
    inputs = _Inputs(window, teams, spells, index, config, stats)
    #: Attributed encounters that end in a later period: key -> (record, microsystem id).
    open_stays: dict[str, tuple[EncounterRecord, str]] = {}
    #: The latest derived (not continuation) version of each microsystem id.
    latest: dict[str, MicrosystemPeriod] = {}
    last_end = periods[-1].end if periods else datetime.min.replace(tzinfo=UTC)
    for number, current in enumerate(periods):
        ending = sorted(
            (v for v in open_stays.values() if v[0].end is not None and v[0].end < current.end),
            key=lambda v: record_order(v[0]),
        )
        for rec, _ in ending:
            del open_stays[rec.key]
        items, attribution, missing, carried, period_rows = _derive_period(
            current, number, inputs, known, ending, latest
        )
        for rec in _ending_later(period_rows, config, current.end, last_end).records():
            ms = attribution.get(rec.key)  # attributed here, ending in a later assessed period
            if ms is not None:
                open_stays[rec.key] = (rec, ms)
        stats["attributed-one-clinician"] += _one_clinician(period_rows, attribution)
        stats["encounters-ending-later"] += sum(1 for rec, _ in ending)
        stats["encounters-ending-unattributed"] += sum(1 for r, _ in ending if r.key not in carried)
        stats["continuation-periods"] += sum(item.continuation for item in items)
        for item in items:
            if item.continuation:  # no evidence of its membership: identity goes on as before
                continue
            latest[item.id] = item
            known[item.id] = Known(
                item.id,
                _basis(item),
                item.members,
                number,
                item.first_period,
                item.explicit_careteam,
                item.organization,
                known[item.id].basis if item.id in known else frozenset(),
                item.period.end,
            )
        stats["microsystem-periods"] += len(items)
        log.info(
            "period %s: %d microsystems, %d encounters attributed, %d not",
            current.label,
            len(items),
            len(attribution),
            sum(missing.values()),
        )
        yield PeriodOutcome(
            current,
            items,
            attribution,
            missing,
            carried,
            tuple(rec for rec, _ in ending if rec.key in carried),
        )


def _ending_later(
    rows: EncounterRows, config: DerivationConfig, lo: datetime, hi: datetime
) -> EncounterRows:
    """The rows of the classes counted by their end that end in ``[lo, hi)``."""
    table = rows.table
    wanted = pc.and_(
        pc.is_in(table["class_code"], pa.array(sorted(config.ending_classes), pa.string())),
        pc.and_(pc.greater_equal(table["end"], lo), pc.less(table["end"], hi)),
    )
    return EncounterRows(table.filter(wanted))


def _one_clinician(rows: EncounterRows, attribution: Mapping[str, str]) -> int:
    """The rows attributed (keys of ``attribution``) with at most one clinician."""
    table = rows.table
    few = pc.less_equal(pc.fill_null(pc.list_value_length(table["participants"]), 0), 1)
    attributed = pc.is_in(table["key"], pa.array(list(attribution), pa.string()))
    return int(pc.sum(pc.and_(few, attributed)).as_py() or 0)


def classified(
    rows: EncounterRows, periods: Sequence[Period], config: DerivationConfig
) -> tuple[EncounterRows, Counter[str]]:
    """``(usable, reasons)``: the rows that may feed the networks, in record order (by
    start, then key), and the unattributed reasons of the others counted. A record before
    the first period but within its look-back counts as outside the periods and is still
    usable (``window.sql``, step ``classify``)."""
    parameters = {
        "excluded": sorted(config.excluded_statuses),
        "first": periods[0].start if periods else None,
        "last_end": periods[-1].end if periods else None,
        "lookback": periods[0].start - timedelta(days=config.lookback_days) if periods else None,
    }
    table = rows.table.select(RECORD_FIELDS)
    with registered(recs=numbered(table.select(["key", "status", "start"]))) as con:
        found = con.sql(STEPS["classify"], params=parameters).to_arrow_table()
    counted = pc.value_counts(pc.drop_null(found["reason"])).to_pylist()
    reasons = Counter({item["values"]: item["counts"] for item in counted})
    usable = table.take(found.filter(found["usable"])["ord"])  # (one copy, in record order)
    return EncounterRows(usable.cast(RECORD_SCHEMA)), reasons


def record_order(rec: EncounterRecord) -> tuple[datetime, str]:
    """The order the derivation reads records in: by start, then key."""
    assert rec.start is not None
    return rec.start, rec.key


def _lead(draft: Draft, period: Period) -> str | None:
    """The explicit team's lead in ``period`` when the lead is a member of the draft."""
    team = draft.cluster.team
    lead = team.lead_in(period) if team else None
    return lead if lead in draft.members else None


def _basis(item: MicrosystemPeriod) -> frozenset[str]:
    return item.core_members or frozenset(item.members)


def plan_periods(
    first_start: datetime | None,
    last_start: datetime | None,
    start: datetime | None,
    end: datetime | None,
    granularity: Granularity,
) -> list[Period]:
    """The periods to derive: ``[start, end)`` in whole periods when given, else the trailing
    year up to the latest encounter start (``last_start``), not before the first one."""
    if start is not None and end is not None:
        found = split_periods(start, end, granularity)
        if not found:
            raise InputError(
                f"the end of the window ({end:%Y-%m-%d}) must be after its start "
                f"({start:%Y-%m-%d})",
                start=str(start),
                end=str(end),
            )
        return found
    if end is not None:
        return split_periods(start or to_utc(end) - timedelta(days=365), end, granularity)
    if first_start is None or last_start is None:
        return []
    if start is not None:
        return split_periods(start, period_containing(last_start, granularity).end, granularity)
    # The trailing year, but no periods before the data begin (they would be empty).
    first = period_containing(first_start, granularity).start
    return [p for p in trailing_periods(last_start, granularity) if p.end > first]


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What every period's derivation reads: the window of usable records, explicit
    teams, condition spells, the index and the configuration."""

    window: Window
    teams: Sequence[ExplicitTeam]
    spells: Spells
    index: ReferenceIndex
    config: DerivationConfig
    stats: Counter[str]


def _derive_period(
    current: Period,
    number: int,
    inputs: _Inputs,
    known: dict[str, Known],
    ending: Sequence[tuple[EncounterRecord, str]] = (),
    latest: Mapping[str, MicrosystemPeriod] | None = None,
) -> tuple[list[MicrosystemPeriod], dict[str, str], Counter[str], dict[str, str], EncounterRows]:
    teams, spells = inputs.teams, inputs.spells
    index, config = inputs.index, inputs.config
    window_start = current.start - timedelta(days=config.lookback_days)
    window = inputs.window(window_start, current.end)
    period_rows = window.starting(current.start)
    window_days = (current.end - window_start).total_seconds() / 86400
    homes = home_contexts(window, index, config)
    found = network_communities(window, homes, config, window_days, current.start)
    clusters = make_clusters(found, homes)
    clusters = join_by_careteams(clusters, teams_in_force(teams, current), current, config)
    previous = {
        person: k.id
        for k in sorted(known.values(), key=lambda k: k.id, reverse=True)
        if k.period_index == number - 1
        for person in k.basis
    }
    clusters = join_shifts(clusters, activity_profiles(window), config, previous)
    drafts = sorted(
        assemble(period_rows, clusters, index, config),
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
        period_start=current.start,
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
    attribution, missing = attribute_encounters(period_rows, items)
    items += continuations(ending, items, latest or {}, current)
    present = {item.id for item in items}
    carried = {rec.key: ms for rec, ms in ending if ms in present}
    served = period_rows.concat(EncounterRows.of(rec for rec, _ in ending if rec.key in carried))
    counted = {**attribution, **carried}
    patients = attribute_patients(served, counted, config)
    groups = cohorts(patients, served, counted, spells, current)
    by_ms: dict[str, set[str]] = {}
    for key, ms in attribution.items():
        by_ms.setdefault(ms, set()).add(key)
    ending_by_ms: dict[str, set[str]] = {}
    for key, ms in carried.items():
        ending_by_ms.setdefault(ms, set()).add(key)
    items = [
        replace(
            item,
            patients=frozenset(patients.get(item.id, ())),
            encounter_ids=frozenset(by_ms.get(item.id, ())),
            ending_ids=frozenset(ending_by_ms.get(item.id, ())),
            cohorts=groups.get(item.id, {}),
        )
        for item in items
    ]
    return items, attribution, missing, carried, period_rows


def continuations(
    ending: Sequence[tuple[EncounterRecord, str]],
    items: Sequence[MicrosystemPeriod],
    latest: Mapping[str, MicrosystemPeriod],
    current: Period,
) -> list[MicrosystemPeriod]:
    """Versions of ``current`` for the microsystems that have none but an encounter
    attributed to them (in an earlier period) ends in it: the measures by end of stay count
    it there. A continuation keeps the name and organisation of the microsystem's latest
    version; its members are those of that version who take part in the ending encounters
    (all of them, when none does), occasional; it has no stability, events or lineage (its
    period gave no evidence of its membership) and identity matching skips it."""
    ids = {item.id for item in items}
    wanted: dict[str, Counter[str]] = {}
    for rec, ms in ending:
        if ms not in ids and ms in latest:
            wanted.setdefault(ms, Counter()).update(set(rec.participants))
    return [
        replace(
            latest[ms],
            period=current,
            members=_continuing_members(latest[ms].members, wanted[ms]),
            patients=frozenset(),
            encounter_ids=frozenset(),
            ending_ids=frozenset(),
            cohorts={},
            stability=None,
            events=(),
            split_from=(),
            merged_from=(),
            lead=None,
            continuation=True,
        )
        for ms in sorted(wanted)
    ]


def _continuing_members(
    members: Mapping[str, Member], taking_part: Counter[str]
) -> dict[str, Member]:
    kept = {p: m for p, m in members.items() if taking_part[p]} or dict(members)
    total = sum(taking_part[p] for p in kept)
    return {
        p: replace(
            m,
            core=False,
            encounters=taking_part[p],
            encounter_share=taking_part[p] / total if total else 0.0,
            evidence="inferred",
        )
        for p, m in sorted(kept.items())
    }


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


__all__ = [
    "PeriodOutcome",
    "Window",
    "classified",
    "continuations",
    "derive",
    "derive_periods",
    "microsystem_names",
    "plan_periods",
    "record_order",
]
