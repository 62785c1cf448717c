"""The derive stage: microsystems period by period over the extracted encounter months,
one bundle per period for its measure partition."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from fhir_microsystems._duckdb import close_thread_connections
from fhir_microsystems._findings import Findings
from fhir_microsystems._memory import release_memory, releasing
from fhir_microsystems.derive import DerivationConfig, MicrosystemPeriod
from fhir_microsystems.derive.careteams import read_explicit_teams
from fhir_microsystems.derive.cohorts import Spells
from fhir_microsystems.derive.fhir_resources import careteam_id, group_id, microsystem_resources
from fhir_microsystems.derive.pipeline import derive_periods, plan_periods
from fhir_microsystems.derive.records import EncounterRecord
from fhir_microsystems.extract import records_table
from fhir_microsystems.measures import (
    ENCOUNTER_MEASURES,
    FactsBuilder,
    MicrosystemContext,
    PatientFact,
)
from fhir_microsystems.measures._encounters import READMISSION_WINDOW
from fhir_microsystems.periods import Period, to_utc
from fhir_microsystems.reports import StaffResponse, responses_by_period, staff_scores
from fhir_microsystems.sources import ReferenceIndex, Source
from fhir_microsystems.sources._references import INDEXED_TYPES

from . import _codec
from ._columns import from_parquet, to_parquet
from ._common import (
    opened,
    utc_date,
)
from ._encounter_months import MonthIndex, MonthWindows
from ._keys import store_key
from ._period_facts import FOLLOW_UP_COLUMNS, ROW_COLUMNS, period_fact_tables
from ._spec import RunSpec
from ._store import Store

log = logging.getLogger(__name__)

#: The small types the derive stage indexes (Patients are resolved in the extract stage).
DERIVE_INDEX_TYPES = tuple(t for t in INDEXED_TYPES if t != "Patient")
#: How far after a period the measures look for follow-up encounters (30-day readmission).
FOLLOW_UP_HORIZON = READMISSION_WINDOW + timedelta(days=1)
#: Encounter classes the follow-up measures look for (readmission, ED return).
FOLLOW_UP_CLASSES = frozenset({"IMP", "EMER"})


def _load_spells(store: Store, run_id: str, partitions: Iterable[str]) -> Spells:
    """The condition spells the extract partitions stored (Parquet chunks)."""
    tables = []
    for partition in partitions:
        if not partition.startswith("conditions:"):
            continue
        for number in range(_extracted(store, run_id, "spell-chunks", partition)):
            blob = store.get(store_key(run_id, "spells", partition, str(number)))
            if blob is None:
                raise LookupError(f"claim check of spells {partition} {number} is gone")
            tables.append(from_parquet(blob))
    return Spells.concat(tables)


def patient_fact(key: str, row: Sequence[Any] | None) -> PatientFact:
    """A patient's facts from the row an encounter carried (see :func:`_patient_row`)."""
    if row is None:
        return PatientFact(key=key)
    gender, birth_date, deceased, deceased_value = row
    birth: date | None = None
    if birth_date and len(birth_date) >= 10:
        try:
            birth = date.fromisoformat(birth_date[:10])
        except ValueError:
            birth = None
    deceased_at: datetime | None = None
    if deceased_value:
        try:
            deceased_at = to_utc(datetime.fromisoformat(deceased_value))
        except ValueError:
            deceased_at = None
    return PatientFact(key, gender, birth, deceased_at, deceased)


def _context(item: MicrosystemPeriod, data_end: datetime) -> MicrosystemContext:
    """What the measure stage reads of a microsystem besides the fact tables (its
    encounters are joined into them by SQL, see :mod:`._period_facts`)."""
    return MicrosystemContext(
        id=item.id,
        careteam_ref=f"CareTeam/{careteam_id(item)}",
        group_ref=f"Group/{group_id(item)}",
        organization=item.organization,
        name=item.name,
        period=(item.period.start, item.period.end),
        members=frozenset(item.members),
        core_members=item.core_members,
        encounters=(),
        patients=item.patients,
        data_end=data_end,
        stability=item.stability,
        has_lead_role=item.lead is not None,
    )


@releasing
def derive(
    spec: RunSpec,
    partitions: Iterable[str],
    store: Store,
    run_id: str,
    on_period: Callable[[str], None] | None = None,
) -> list[str]:
    """Derive microsystems period by period from the extracted encounter months; store one
    bundle per period (its measure partition) and return their names.

    ``on_period(name)`` is called as soon as a period's bundle is stored, so its measure
    partition can start while later periods are still being derived.
    """
    with opened(spec) as source:
        return _derive(spec, partitions, source, store, run_id, on_period)


def _extracted(store: Store, run_id: str, family: str, partition: str) -> Any:
    """What extract partition ``partition`` stored under ``family`` (decoded JSON)."""
    blob = store.get(store_key(run_id, family, partition))
    if blob is None:
        raise LookupError(f"extract partition {partition!r} of run {run_id} left no data")
    return orjson.loads(blob)


def _month_index(store: Store, run_id: str, partitions: Iterable[str]) -> MonthIndex:
    metas = []
    for partition in partitions:
        if not partition.startswith("encounters:"):
            continue
        meta = _extracted(store, run_id, "enc-meta", partition)
        metas.append((store_key(run_id, "enc", partition), meta))
    return MonthIndex.combine(metas)


def _derive(
    spec: RunSpec,
    partitions: Iterable[str],
    source: Source,
    store: Store,
    run_id: str,
    on_period: Callable[[str], None] | None = None,
) -> list[str]:
    if orjson.loads(store.get(store_key(run_id, "unchanged")) or b"false"):
        store.put(store_key(run_id, "derivation"), orjson.dumps({"unchanged_since": spec.since}))
        return []
    partitions = list(partitions)
    months = _month_index(store, run_id, partitions)
    periods = plan_periods(
        months.first, months.last, utc_date(spec.start), utc_date(spec.end), spec.period
    )
    index = ReferenceIndex.build(source, types=DERIVE_INDEX_TYPES)
    findings = source.findings
    for _ in source.iter_resources("Patient"):  # reported here once (extract drops them)
        pass
    config = DerivationConfig()
    stats: Counter[str] = Counter()
    teams = read_explicit_teams(source, index, findings, config, stats)
    spells = _load_spells(store, run_id, partitions)
    responses = _staff_responses(source, index, periods, findings)
    windows = MonthWindows(store, months, periods, config, findings)
    data_end = months.latest or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    unattributed: Counter[str] = Counter()
    attributed = 0
    written = []
    for outcome in derive_periods(periods, windows.window, teams, spells, index, config, stats):
        unattributed.update(outcome.missing)
        attributed += len(outcome.attribution)
        rows.extend(_summary_rows(outcome.items))
        if not outcome.items:
            continue
        label = outcome.period.label
        close_thread_connections()  # what the derivation's SQL freed goes back too
        release_memory()  # what the derivation freed goes back before the fact tables
        _store_period(
            spec,
            outcome.items,
            outcome.ending_records,
            windows,
            responses,
            data_end,
            store,
            run_id,
            index.organization_names,
        )
        release_memory()  # what the period's tables took goes back before the next one
        written.append(label)
        if on_period is not None:
            on_period(label)
    unattributed.update(windows.finish())
    log.info("derive held at most %d encounter rows at once", windows.peak_records)
    summary = {
        "periods": [p.label for p in periods],
        "microsystems": rows,
        "encounters_read": windows.read,
        "encounters_attributed": attributed,
        "unattributed": dict(sorted(unattributed.items())),
        # Per encounter measure: encounters that qualify by its rule (see finalize's coverage).
        "qualifying": {m: windows.qualifying[m] for m in ENCOUNTER_MEASURES},
        # Attributed encounters with at most one clinician (see finalize's limitations).
        "attributed_one_clinician": stats["attributed-one-clinician"],
        # Started in one period and counted in the one they end in; the versions made for them.
        "ending_in_later_period": stats["encounters-ending-later"],
        "ending_unattributed": stats["encounters-ending-unattributed"],
        "continuation_periods": stats["continuation-periods"],
    }
    store.put(store_key(run_id, "derivation"), _codec.dumps(summary))
    store.put(store_key(run_id, "findings", "derive"), _codec.findings_to(findings))
    return written


def _store_period(
    spec: RunSpec,
    items: list[MicrosystemPeriod],
    ending: Iterable[EncounterRecord],
    windows: MonthWindows,
    responses: dict[str, list[StaffResponse]],
    data_end: datetime,
    store: Store,
    run_id: str,
    organization_names: Mapping[str, str],
) -> None:
    """Store what one period's measure partition needs: its contexts (one per key, each
    stored as it is built; their encounters go into the fact tables), its bundle, the
    measures' fact tables (Parquet) and its CareTeam and Group resources. Nothing of the
    period outlives this call (the next period's derivation needs the memory).
    ``ending`` are the records of encounters started earlier that end (and count) here."""
    period = items[0].period
    label = period.label
    facts = FactsBuilder()
    for number, item in enumerate(items):
        context = _context(item, data_end)
        facts.add(context)
        store.put(
            store_key(run_id, "ms-context", label, str(number)),
            _codec.dumps(_codec.context_to(context)),
        )
    after = period.start + timedelta(microseconds=1)
    horizon = period.end + FOLLOW_UP_HORIZON + timedelta(microseconds=1)

    def patient_facts(keys: list[str]) -> list[PatientFact]:
        known = windows.patients(keys)
        return [patient_fact(key, known.get(key)) for key in keys]

    tables = period_fact_tables(
        items,
        facts.context_tables(),
        windows.rows(period.start, period.end, columns=ROW_COLUMNS),
        records_table([(rec, None) for rec in ending]),
        windows.rows(after, horizon, FOLLOW_UP_CLASSES, FOLLOW_UP_COLUMNS),
        patient_facts,
    )
    for name, table in tables.named():
        store.put(store_key(run_id, "ms-facts", label, name), to_parquet([table]))
    del facts, tables
    staff = staff_scores(
        {item.id: item.members for item in items},
        responses.get(period.label, ()),
        windows.findings,
        canonical_base=spec.canonical_base,
    )
    bundle = {
        "period": [period.start.isoformat(), period.end.isoformat()],
        "data_end": data_end.isoformat(),
        "staff": staff,  # one period per partition: staff scores by microsystem id
        "contexts": len(items),
    }
    store.put(store_key(run_id, "ms", label), _codec.dumps(bundle))
    types = []
    for rtype, blob in _resource_lines(items, spec, organization_names):
        store.put(store_key(run_id, "ms-resources", label, rtype), blob)
        types.append(rtype)
    store.put(store_key(run_id, "ms-resource-types", label), orjson.dumps(sorted(types)))


def _resource_lines(
    items: list[MicrosystemPeriod], spec: RunSpec, organization_names: Mapping[str, str]
) -> Iterator[tuple[str, bytes]]:
    """The period's CareTeam and Group resources as NDJSON by type (written as they are),
    one type at a time."""
    lines: dict[str, list[bytes]] = {}
    resources = microsystem_resources(
        items, canonical_base=spec.canonical_base, organization_names=organization_names
    )
    for resource in resources:
        lines.setdefault(resource["resourceType"], []).append(
            orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
        )
    while lines:
        rtype = next(iter(lines))
        yield rtype, b"\n".join(lines.pop(rtype))


def _staff_responses(
    source: Source, index: ReferenceIndex, periods: list[Period], findings: Findings
) -> dict[str, list[StaffResponse]]:
    """The source's staff QuestionnaireResponses by period (authors resolved by ``index``)."""
    if "QuestionnaireResponse" not in source.resource_types():
        return {}

    def author_of(response: Mapping[str, Any], where: str) -> str | None:
        reference = response.get("author")
        return index.practitioner(
            index.resolve(reference, where=where, field="QuestionnaireResponse.author")
        )

    resources = source.iter_resources("QuestionnaireResponse")
    return responses_by_period(resources, author_of, periods, findings)


def _summary_rows(items: Iterable[MicrosystemPeriod]) -> list[dict[str, Any]]:
    return [
        {
            "period": item.period.label,
            "id": item.id,
            "name": item.name,
            "organization": item.organization,
            "core": len(item.core_members),
            "occasional": len(item.occasional_members),
            "patients": len(item.patients),
            "encounters": len(item.encounter_ids),
            "ending": len(item.ending_ids),  # started earlier, counted here by their end
            "stability": item.stability,
            "joins": sum(1 for e in item.events if e.kind == "join"),
            "leaves": sum(1 for e in item.events if e.kind == "leave"),
            "continuation": item.continuation,
        }
        for item in items
    ]
