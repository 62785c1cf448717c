"""The run's stages, each idempotent and each a plain function over ids and a store.

``plan`` -> ``extract`` (one per Encounter and per Observation partition, in parallel) ->
``derive`` (the join: periods in order over month buckets of encounter records, since
identities carry over between periods) -> ``measure`` (one per period, in parallel) ->
``finalize``. In-process runs call them in order; Celery tasks are thin adapters
over the same functions, so both produce the same resources.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from fhir_microsystems._errors import InputError
from fhir_microsystems._findings import Findings
from fhir_microsystems._settings import Settings
from fhir_microsystems.connect import make_client, open_source
from fhir_microsystems.derive import DerivationConfig, MicrosystemPeriod
from fhir_microsystems.derive.careteams import read_explicit_teams
from fhir_microsystems.derive.cohorts import ConditionSpell, condition_spells
from fhir_microsystems.derive.fhir_resources import careteam_id, group_id, microsystem_resources
from fhir_microsystems.derive.pipeline import derive_periods, plan_periods
from fhir_microsystems.derive.records import EncounterRecord, encounter_record
from fhir_microsystems.exporting import local_error_files, record_export_errors
from fhir_microsystems.measures import (
    ENCOUNTER_MEASURES,
    EncounterFact,
    MicrosystemContext,
    ObservationFact,
    PatientFact,
    Timelines,
    compute_batch,
)
from fhir_microsystems.measures._encounters import READMISSION_WINDOW
from fhir_microsystems.observations import extract_observation_row
from fhir_microsystems.periods import Period, split_periods, to_utc
from fhir_microsystems.reports import (
    OVERALL_RULE,
    InvalidReportError,
    StaffScore,
    assess_microsystem,
    build_assessment_report,
    build_measure_report,
    fold_questionnaire_responses,
    overall_score,
    rounded,
)
from fhir_microsystems.sources import FhirServerSource, NdjsonSource, ReferenceIndex, Source
from fhir_microsystems.sources._references import INDEXED_TYPES

from . import _codec
from ._encounter_months import MonthIndex, MonthWindows, MonthWriter, month_of
from ._hints import with_base_hints
from ._outputs import (
    merge_parts,
    put_all,
    safe_name,
    write_file,
    write_part,
    write_raw_part,
)
from ._ownership import scope_code
from ._spec import RunSpec
from ._store import Store

log = logging.getLogger(__name__)

#: Findings kept in full per stage partition (the rest are counted).
FINDINGS_KEPT = 2_000
ALL_OBSERVATIONS = "observations:all"
ALL_ENCOUNTERS = "encounters:all"
ALL_CONDITIONS = "conditions:all"
#: The small types the derive stage indexes (Patients are resolved in the extract stage).
DERIVE_INDEX_TYPES = tuple(t for t in INDEXED_TYPES if t != "Patient")
#: Observation facts per claim-check chunk (bounds extract memory).
OBSERVATION_CHUNK = 1_000
#: Condition spells per claim-check chunk.
SPELL_CHUNK = 1_000
#: How far after a period the measures look for follow-up encounters (30-day readmission).
FOLLOW_UP_HORIZON = READMISSION_WINDOW + timedelta(days=1)
#: Encounter classes the follow-up measures look for (readmission, ED return).
FOLLOW_UP_CLASSES = frozenset({"IMP", "EMER"})
#: Encounters are read this far around the assessed window (network look-back, follow-ups).
READ_MARGIN = timedelta(days=31)
#: The assessment's Measure id, and the decimals of its overall result in the summary.
ASSESSMENT_MEASURE, ASSESSMENT_PRECISION = "microsystem-assessment", 4
#: Resource types a run reads from a server.
SOURCE_TYPES = (
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "CareTeam",
    "Condition",
    "Encounter",
    "Observation",
)


def _key(run_id: str, *parts: str) -> str:
    return ":".join(("fhirms", run_id, *parts))


def _utc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)


def _source(spec: RunSpec, settings: Settings | None = None) -> Source:
    """The run's source. A server is read in full for the window (never only the changes
    since ``spec.since``: a microsystem is derived from all of its period's encounters)."""
    start, end = _utc_date(spec.start), _utc_date(spec.end)
    window = None
    if start is not None or end is not None:
        window = (
            start - READ_MARGIN if start is not None else None,
            end + READ_MARGIN if end is not None else None,
        )
    return open_source(spec.source, settings, window=window)


@contextmanager
def _opened(spec: RunSpec) -> Iterator[Source]:
    """The run's source, its FHIR client (if any) closed when the stage is done with it."""
    source = _source(spec)
    try:
        yield source
    finally:
        if isinstance(source, FhirServerSource):
            source.client.close()


def _unchanged(spec: RunSpec, source: Source) -> bool:
    """With ``spec.since``: True when nothing in the source changed after that instant."""
    if not spec.since:
        return False
    since = to_utc(datetime.fromisoformat(spec.since))
    if isinstance(source, FhirServerSource):
        return not any(source.changed_since(t, since) for t in SOURCE_TYPES)
    assert isinstance(source, NdjsonSource)
    return not any(
        datetime.fromtimestamp(path.stat().st_mtime, UTC) > since
        for t in source.resource_types()
        for path in source.files(t)
    )


# -- plan -----------------------------------------------------------------------------------


def plan(spec: RunSpec, store: Store, run_id: str) -> list[str]:
    """Extract partitions: Encounters, Conditions and Observations, one per NDJSON file (or
    the whole search of each type on a server).

    An incremental run (``spec.since``) over a source where nothing changed since then plans
    nothing: the later stages then do nothing and the outputs stay as they are.
    """
    with _opened(spec) as source:
        return _plan(spec, source, store, run_id)


def _plan(spec: RunSpec, source: Source, store: Store, run_id: str) -> list[str]:
    if isinstance(source, FhirServerSource):
        source.check_capabilities(SOURCE_TYPES)  # fails early: not R4, or a search missing
        partitions = [ALL_ENCOUNTERS, ALL_CONDITIONS, ALL_OBSERVATIONS]
    else:
        assert isinstance(source, NdjsonSource)
        partitions = []
        for rtype, kind in (
            ("Encounter", "encounters"),
            ("Condition", "conditions"),
            ("Observation", "observations"),
        ):
            partitions += [f"{kind}:{p.name}" for p in source.files(rtype)] or [f"{kind}:all"]
        errors = Findings()  # a Bulk export's own error files, listed by its manifest
        for path in local_error_files(source.directory):
            try:
                record_export_errors(path, errors)
            except InputError as exc:
                errors.add("export-error", path.name, "", str(exc))
        store.put(_key(run_id, "findings", "plan"), _codec.findings_to(errors))
    unchanged = _unchanged(spec, source)
    store.put(_key(run_id, "unchanged"), orjson.dumps(unchanged))
    if unchanged:
        partitions = []
    store.put(_key(run_id, "plan"), orjson.dumps(partitions))
    return partitions


# -- extract --------------------------------------------------------------------------------


def _partition_resources(
    partition: str, source: Source, resource_type: str
) -> Iterator[dict[str, Any]]:
    name = partition.split(":", 1)[1]
    if name == "all" or not isinstance(source, NdjsonSource):
        yield from source.iter_resources(resource_type)
        return
    for path in source.files(resource_type):
        if path.name == name:
            yield from source.iter_file(path, resource_type)


def _quiet_index(source: Source, types: Iterable[str] = INDEXED_TYPES) -> ReferenceIndex:
    """The reference index with its own findings dropped: the derive stage reads these
    types too and reports them once. Later resolutions record into ``source.findings``."""
    kept = source.findings
    source.findings = Findings()
    try:
        index = ReferenceIndex.build(source, types=types)
    finally:
        source.findings = kept
    index.findings = kept
    return index


def extract(spec: RunSpec, partition: str, store: Store, run_id: str) -> dict[str, int]:
    """Reduce one partition's Encounters, Conditions or Observations to compact rows
    (Encounters and Observations by the UTC month they start in; Conditions to the cohort
    spells of each patient).

    Rows are flushed to the store in chunks per month, so memory is bounded by the chunk
    size (times the months), not by the partition.
    """
    with _opened(spec) as source:
        if partition.startswith("encounters:"):
            return _extract_encounters(partition, source, store, run_id)
        if partition.startswith("conditions:"):
            return _extract_conditions(partition, source, store, run_id)
        return _extract_observations(partition, source, store, run_id)


def _extract_encounters(
    partition: str, source: Source, store: Store, run_id: str
) -> dict[str, int]:
    index = _quiet_index(source)
    writer = MonthWriter(store, _key(run_id, "enc", partition))
    read = 0
    most = Settings().max_encounter_participants
    for resource in _partition_resources(partition, source, "Encounter"):
        read += 1
        rec = encounter_record(resource, index, source.findings, max_participants=most)
        writer.add(rec, _patient_row(index, rec.patient))
    store.put(_key(run_id, "enc-meta", partition), orjson.dumps(writer.close()))
    return _extracted(partition, source, store, run_id, read)


def _patient_row(index: ReferenceIndex, key: str | None) -> list[Any] | None:
    """The encounter's patient facts (gender, birth date, deceased) carried on its row."""
    info = index.patients.get(key) if key else None
    if info is None:
        return None
    return [info.gender, info.birth_date, info.deceased, info.deceased_at]


def _extract_conditions(
    partition: str, source: Source, store: Store, run_id: str
) -> dict[str, int]:
    index = _quiet_index(source)
    rows: list[list[Any]] = []
    chunks = read = 0
    for resource in _partition_resources(partition, source, "Condition"):
        read += 1
        patient, spells = condition_spells(resource, index, source.findings)
        rows.extend([patient, s.cohort, s.onset, s.abatement] for s in spells)
        if len(rows) >= SPELL_CHUNK:
            store.put(_key(run_id, "spells", partition, str(chunks)), _codec.dumps(rows))
            rows, chunks = [], chunks + 1
    if rows:
        store.put(_key(run_id, "spells", partition, str(chunks)), _codec.dumps(rows))
        chunks += 1
    store.put(_key(run_id, "spell-chunks", partition), orjson.dumps(chunks))
    return _extracted(partition, source, store, run_id, read)


def _load_spells(
    store: Store, run_id: str, partitions: Iterable[str]
) -> dict[str, list[ConditionSpell]]:
    spells: dict[str, list[ConditionSpell]] = {}
    for partition in partitions:
        if not partition.startswith("conditions:"):
            continue
        count = store.get(_key(run_id, "spell-chunks", partition))
        if count is None:
            raise LookupError(f"extract partition {partition!r} of run {run_id} left no data")
        for number in range(orjson.loads(count)):
            blob = store.get(_key(run_id, "spells", partition, str(number)))
            if blob is None:
                raise LookupError(f"claim check of spells {partition} {number} is gone")
            for patient, cohort, onset, abatement in orjson.loads(blob):
                spells.setdefault(sys.intern(patient), []).append(
                    ConditionSpell(
                        sys.intern(cohort),
                        datetime.fromisoformat(onset) if onset else None,
                        datetime.fromisoformat(abatement) if abatement else None,
                    )
                )
    return spells


def _extract_observations(
    partition: str, source: Source, store: Store, run_id: str
) -> dict[str, int]:
    index = _quiet_index(source, types=("Patient",))
    findings = source.findings
    buckets: dict[str, list[list[Any]]] = {}
    chunks: dict[str, int] = {}
    read = 0

    def resolve(reference: Any) -> str | None:
        return index.resolve(reference, where="Observation", field="subject", record=False)

    def flush(month: str) -> None:
        items = buckets.pop(month)
        number = chunks.get(month, 0)
        store.put(_key(run_id, "obs", partition, month, str(number)), _codec.dumps(items))
        chunks[month] = number + 1

    for resource in _partition_resources(partition, source, "Observation"):
        read += 1
        row = extract_observation_row(resource, findings, resolve=resolve)  # the fact's fields
        if row is None or row[4] is None:  # no fact, or no effective time
            continue
        month = month_of(row[4])
        bucket = buckets.get(month)
        if bucket is None:
            bucket = buckets[month] = []
        bucket.append(row)
        if len(bucket) >= OBSERVATION_CHUNK:
            flush(month)
    for month in list(buckets):
        flush(month)
    store.put(_key(run_id, "obs-chunks", partition), orjson.dumps(chunks))
    return _extracted(partition, source, store, run_id, read)


def _extracted(
    partition: str, source: Source, store: Store, run_id: str, read: int
) -> dict[str, int]:
    """Store the partition's findings; what the extract task reports."""
    findings = source.findings
    store.put(_key(run_id, "findings", "extract", partition), _codec.findings_to(findings))
    return {"resources": read, "findings": findings.total, "retries": _retries(source)}


def _retries(source: Source) -> int:
    client = getattr(source, "client", None)
    return int(getattr(getattr(client, "stats", None), "retries", 0))


# -- derive ---------------------------------------------------------------------------------


def _fact(rec: EncounterRecord) -> EncounterFact:
    return EncounterFact(
        key=rec.key,
        patient=rec.patient,
        cls=rec.class_code,
        status=rec.status,
        start=rec.start,
        end=rec.end,
        practitioners=rec.participants,
        discharge_disposition=rec.discharge_disposition,
    )


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


def _context(
    item: MicrosystemPeriod, by_key: dict[str, EncounterRecord], data_end: datetime
) -> MicrosystemContext:
    keys = sorted(item.encounter_ids | item.ending_ids)  # started here; ending here
    encounters = tuple(_fact(by_key[k]) for k in keys if k in by_key)
    return MicrosystemContext(
        id=item.id,
        careteam_ref=f"CareTeam/{careteam_id(item)}",
        group_ref=f"Group/{group_id(item)}",
        organization=item.organization,
        name=item.name,
        period=(item.period.start, item.period.end),
        members=frozenset(item.members),
        core_members=item.core_members,
        encounters=encounters,
        patients=item.patients,
        data_end=data_end,
        stability=item.stability,
        has_lead_role=item.lead is not None,
    )


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
    with _opened(spec) as source:
        return _derive(spec, partitions, source, store, run_id, on_period)


def _month_index(store: Store, run_id: str, partitions: Iterable[str]) -> MonthIndex:
    metas = []
    for partition in partitions:
        if not partition.startswith("encounters:"):
            continue
        blob = store.get(_key(run_id, "enc-meta", partition))
        if blob is None:
            raise LookupError(f"extract partition {partition!r} of run {run_id} left no data")
        metas.append((_key(run_id, "enc", partition), orjson.loads(blob)))
    return MonthIndex.combine(metas)


def _derive(
    spec: RunSpec,
    partitions: Iterable[str],
    source: Source,
    store: Store,
    run_id: str,
    on_period: Callable[[str], None] | None = None,
) -> list[str]:
    if orjson.loads(store.get(_key(run_id, "unchanged")) or b"false"):
        store.put(_key(run_id, "derivation"), orjson.dumps({"unchanged_since": spec.since}))
        return []
    partitions = list(partitions)
    months = _month_index(store, run_id, partitions)
    periods = plan_periods(
        months.first, months.last, _utc_date(spec.start), _utc_date(spec.end), spec.period
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
        written.append(label)
        if on_period is not None:
            on_period(label)
    unattributed.update(windows.finish())
    log.info("derive held at most %d encounter records at once", windows.peak_records)
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
    store.put(_key(run_id, "derivation"), _codec.dumps(summary))
    store.put(_key(run_id, "findings", "derive"), _codec.findings_to(findings))
    return written


def _store_period(
    spec: RunSpec,
    items: list[MicrosystemPeriod],
    ending: Iterable[EncounterRecord],
    windows: MonthWindows,
    responses: dict[str, list[_Response]],
    data_end: datetime,
    store: Store,
    run_id: str,
    organization_names: Mapping[str, str],
) -> None:
    """Store what one period's measure partition needs: its contexts (one per key, each
    stored as it is built), its bundle and its CareTeam and Group resources. Nothing of
    the period outlives this call (the next period's derivation needs the memory).
    ``ending`` are the records of encounters started earlier that end (and count) here."""
    period = items[0].period
    label = period.label
    by_key = {rec.key: rec for rec in windows.records(period.start, period.end)}
    by_key.update((rec.key, rec) for rec in ending)
    bundle = _period_bundle(spec, items, windows, responses, data_end, by_key)
    for number, item in enumerate(items):
        store.put(
            _key(run_id, "ms-context", label, str(number)),
            _codec.dumps(_codec.context_to(_context(item, by_key, data_end))),
        )
    bundle["contexts"] = len(items)
    store.put(_key(run_id, "ms", label), _codec.dumps(bundle))
    del bundle, by_key
    types = []
    for rtype, blob in _resource_lines(items, spec, organization_names):
        store.put(_key(run_id, "ms-resources", label, rtype), blob)
        types.append(rtype)
    store.put(_key(run_id, "ms-resource-types", label), orjson.dumps(sorted(types)))


def _period_bundle(
    spec: RunSpec,
    items: list[MicrosystemPeriod],
    windows: MonthWindows,
    responses: dict[str, list[_Response]],
    data_end: datetime,
    by_key: dict[str, EncounterRecord],
) -> dict[str, Any]:
    """The period's follow-up timeline, patient facts and staff scores (the contexts go
    one per key, see :func:`_store_period`)."""
    period = items[0].period
    horizon = period.end + FOLLOW_UP_HORIZON + timedelta(microseconds=1)
    by_patient: dict[str, list[EncounterRecord]] = {}
    for rec in _follow_ups(windows.records(period.start, horizon, FOLLOW_UP_CLASSES), period):
        if rec.patient:
            by_patient.setdefault(rec.patient, []).append(rec)
    # Patients attributed to a microsystem, and those of every attributed encounter.
    patients = sorted(
        {p for item in items for p in item.patients}
        | {p for item in items for k in item.encounter_ids if (p := _patient_of(by_key, k))}
    )
    staff = _staff_scores(spec, items, responses.get(period.label, ()), windows.findings)
    return {
        "period": [period.start.isoformat(), period.end.isoformat()],
        "data_end": data_end.isoformat(),
        "timeline": [
            _codec.encounter_row(_fact(r)) for p in patients for r in by_patient.get(p, ())
        ],
        "patients": [_codec.patient_row(patient_fact(p, windows.patient(p))) for p in patients],
        "staff": staff,  # one period per partition: staff scores by microsystem id
    }


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


def _patient_of(by_key: dict[str, EncounterRecord], key: str) -> str | None:
    rec = by_key.get(key)
    return rec.patient if rec is not None else None


@dataclass(frozen=True, slots=True)
class _Response:
    where: str
    author: str
    resource: dict[str, Any]


def _staff_responses(
    source: Source, index: ReferenceIndex, periods: list[Period], findings: Findings
) -> dict[str, list[_Response]]:
    """Staff QuestionnaireResponses by the period their ``authored`` falls in; those
    without a clinician author or outside the periods are findings."""
    if "QuestionnaireResponse" not in source.resource_types():
        return {}
    by_period: dict[str, list[_Response]] = {}
    for response in source.iter_resources("QuestionnaireResponse"):
        where = f"QuestionnaireResponse/{response['id']}"
        author = index.practitioner(
            index.resolve(response.get("author"), where=where, field="QuestionnaireResponse.author")
        )
        authored = response.get("authored")
        label = _period_of(periods, authored) if isinstance(authored, str) else None
        if author is None or label is None:
            findings.add(
                "unassignable-response",
                where,
                "QuestionnaireResponse.author"
                if author is None
                else "QuestionnaireResponse.authored",
                "no clinician author, or authored outside the assessed periods",
            )
            continue
        by_period.setdefault(label, []).append(_Response(where, author, response))
    return by_period


def _staff_scores(
    spec: RunSpec,
    items: list[MicrosystemPeriod],
    responses: Iterable[_Response],
    findings: Findings,
) -> dict[str, dict[str, StaffScore]]:
    """Fold one period's staff responses into the microsystems their authors were members
    of (every one of them); an author in none is a finding."""
    memberships: dict[str, list[str]] = {}
    for item in items:
        for practitioner in item.members:
            memberships.setdefault(practitioner, []).append(item.id)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for response in responses:
        targets = memberships.get(response.author)
        if not targets:
            findings.add(
                "unassignable-response",
                response.where,
                "QuestionnaireResponse.author",
                "author is in no microsystem",
            )
            continue
        for ms_id in targets:
            grouped.setdefault(ms_id, []).append(response.resource)
    return {
        ms_id: fold_questionnaire_responses(
            grouped[ms_id], findings=findings, canonical_base=spec.canonical_base
        )
        for ms_id in sorted(grouped)
    }


def _period_of(periods: list[Period], authored: str) -> str | None:
    try:
        moment = to_utc(datetime.fromisoformat(authored))
    except ValueError:
        return None
    for period in periods:
        if moment in period:
            return period.label
    return None


def _follow_ups(records: Iterable[EncounterRecord], period: Period) -> Iterator[EncounterRecord]:
    """The encounters the follow-up measures may look at for ``period``: inpatient and
    emergency encounters starting after its start and within the horizon after its end."""
    horizon = period.end + FOLLOW_UP_HORIZON
    for rec in records:
        if (
            rec.class_code in FOLLOW_UP_CLASSES
            and rec.start is not None
            and period.start < rec.start <= horizon
        ):
            yield rec


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


# -- measure --------------------------------------------------------------------------------


def _month_labels(period: tuple[datetime, datetime]) -> list[str]:
    return [p.label for p in split_periods(period[0], period[1], "month")]


def measure(
    spec: RunSpec,
    partition: str,
    store: Store,
    run_id: str,
    *,
    generated_at: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Compute every measure of one partition's microsystems and write their resources."""
    blob = store.get(_key(run_id, "ms", partition))
    if blob is None:
        raise LookupError(f"no derivation stored for partition {partition!r} of run {run_id}")
    bundle = orjson.loads(blob)
    del blob
    patients = {p.key: p for p in map(_codec.patient_from_row, bundle.pop("patients"))}
    timelines = Timelines(encounters=map(_codec.encounter_from_row, bundle.pop("timeline")))
    start, end = bundle["period"]
    period = (datetime.fromisoformat(start), datetime.fromisoformat(end))
    for fact in _period_observations(store, run_id, period, set(patients)):
        timelines.add_observation(fact)
    findings = Findings(keep=FINDINGS_KEPT)
    when = generated_at or datetime.fromisoformat(bundle["data_end"])
    reports: list[dict[str, Any]] = []
    staff = {
        key: {code: StaffScore(**score) for code, score in scores.items()}
        for key, scores in bundle["staff"].items()
    }
    contexts = []
    for number in range(bundle["contexts"]):
        context_blob = store.get(_key(run_id, "ms-context", partition, str(number)))
        if context_blob is None:
            raise LookupError(f"claim check of context {number} of {partition!r} is gone")
        contexts.append(_codec.context_from(orjson.loads(context_blob)))
    computed = compute_batch(contexts, timelines, patients, findings=findings)
    for ctx, results in zip(contexts, computed, strict=True):
        assessment = assess_microsystem(ctx, results, timelines, staff=staff.get(ctx.id))
        builds: list[Callable[[], dict[str, Any]]] = [
            partial(
                build_measure_report,
                result,
                ctx,
                generated_at=when,
                canonical_base=spec.canonical_base,
                evidence=spec.evidence,
            )
            for result in results
        ]
        builds.append(
            partial(
                build_assessment_report,
                assessment,
                ctx,
                generated_at=when,
                canonical_base=spec.canonical_base,
            )
        )
        for build in builds:
            try:
                reports.append(build())
            except InvalidReportError as exc:  # never written; reported with the field
                findings.add("invalid-report", ctx.careteam_ref, exc.field, str(exc))
    resources = {
        rtype: store.get(_key(run_id, "ms-resources", partition, rtype)) or b""
        for rtype in orjson.loads(store.get(_key(run_id, "ms-resource-types", partition)) or b"[]")
    }
    if spec.out_dir:
        write_part(Path(spec.out_dir), run_id, partition, {"MeasureReport": reports})
        for rtype, lines in resources.items():
            write_raw_part(Path(spec.out_dir), run_id, partition, rtype, lines)
    if spec.sink_url:
        outputs = {
            rtype: [orjson.loads(x) for x in b.splitlines()] for rtype, b in resources.items()
        }
        outputs["MeasureReport"] = reports
        with make_client(spec.sink_url, settings, role="sink") as client:
            plan = put_all(
                client,
                outputs,
                canonical_base=spec.canonical_base,
                scope=scope_code(spec.source, spec.canonical_base, partition),
                findings=findings,
                dry_run=spec.dry_run,
            )
        store.put(_key(run_id, "sink-plan", safe_name(partition)), orjson.dumps(plan.to_dict()))
    store.put(
        _key(run_id, "findings", "measure", safe_name(partition)), _codec.findings_to(findings)
    )
    store.put(_key(run_id, "reports", safe_name(partition)), _codec.dumps(_report_rows(reports)))
    return {"reports": len(reports), "findings": findings.total}


def _sink_plan(
    store: Store, run_id: str, measure_parts: Iterable[str], dry_run: bool
) -> dict[str, Any]:
    """What the measure partitions did (or, dry, would do) at the sink: counts per action,
    the ``Type/id`` of every retired and refused resource, and of every one, dry."""
    refs: dict[str, list[str]] = {a: [] for a in ("created", "updated", "retired", "refused")}
    for part in measure_parts:
        plan = orjson.loads(store.get(_key(run_id, "sink-plan", part)) or b"{}")
        for action, found in plan.items():
            refs.setdefault(action, []).extend(found)
    merged: dict[str, Any] = {"dry_run": dry_run, "counts": {a: len(r) for a, r in refs.items()}}
    for action, found in refs.items():
        if dry_run or action in ("retired", "refused"):
            merged[action] = found
    return merged


def _period_observations(
    store: Store, run_id: str, period: tuple[datetime, datetime], patients: set[str]
) -> Iterator[ObservationFact]:
    """The period's observations of ``patients`` (other patients' are skipped undecoded)."""
    partitions = orjson.loads(store.get(_key(run_id, "plan")) or b"[]")
    for partition in partitions:
        if not partition.startswith("observations:"):
            continue
        chunks = orjson.loads(store.get(_key(run_id, "obs-chunks", partition)) or b"{}")
        for month in _month_labels(period):
            for number in range(chunks.get(month, 0)):
                blob = store.get(_key(run_id, "obs", partition, month, str(number)))
                if blob is None:
                    raise LookupError(f"claim check of observations {partition} {month} is gone")
                for row in orjson.loads(blob):
                    if row[1] not in patients:
                        continue
                    fact = _codec.observation_from_row(row)
                    if fact.effective is not None and period[0] <= fact.effective < period[1]:
                        yield fact


def _report_rows(reports: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary rows of the reports. An assessment's ``score`` is its overall result
    (:data:`~fhir_microsystems.reports.OVERALL_RULE`, also named in ``score_rule``) and its
    dimensions are listed by code; a measure's is its first group's measureScore."""
    rows = []
    for report in reports:
        group = report["group"][0]
        score = group.get("measureScore", {}).get("value")
        measure_id = report["measure"].split("/Measure/")[-1].split("|")[0]
        row: dict[str, Any] = {
            "measure": measure_id,
            "microsystem": report["extension"][0]["valueReference"]["reference"],
            "period": report["period"]["start"][:7],
            "status": report["status"],
            "score": score,
            "populations": {
                p["code"]["coding"][0]["code"]: p.get("count", 0)
                for p in group.get("population", ())
            },
        }
        if measure_id == ASSESSMENT_MEASURE:
            dimensions = {g["id"]: g.get("measureScore", {}).get("value") for g in report["group"]}
            overall = overall_score(dimensions.values())
            row["score"] = rounded(overall, ASSESSMENT_PRECISION) if overall is not None else None
            row["score_rule"] = OVERALL_RULE
            row["dimensions"] = dimensions
        rows.append(row)
    return rows


# -- finalize -------------------------------------------------------------------------------

#: A limitation is reported when at least this share of microsystem-periods has one member.
SINGLE_MEMBER_SHARE = 0.5


def coverage(derivation: dict[str, Any], results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per encounter measure: ``qualifying`` encounters (by the measure's own rule over the
    assessed window, whichever period they started in), ``counted`` (in the initial
    population of some report) and the ``gap`` between them (encounters no microsystem got:
    see ``derivation.unattributed`` and ``derivation.ending_unattributed``)."""
    qualifying = derivation.get("qualifying")
    if qualifying is None:  # an unchanged incremental run measures nothing
        return {}
    counted: Counter[str] = Counter()
    for row in results:
        counted[row["measure"]] += row["populations"].get("initial-population", 0)
    return {
        m: {
            "qualifying": qualifying.get(m, 0),
            "counted": counted[m],
            "gap": qualifying.get(m, 0) - counted[m],
        }
        for m in ENCOUNTER_MEASURES
    }


def limitations(derivation: dict[str, Any]) -> list[dict[str, Any]]:
    """What the data cannot show, as ``{kind, count, message}``: most microsystem-periods
    with a single member (the source records one clinician per encounter, so continuity and
    stability are perfect by construction), and microsystem-periods that served encounters
    without a patient group (encounters without a patient)."""
    rows = derivation.get("microsystems", [])
    found: list[dict[str, Any]] = []
    single = sum(1 for r in rows if r["core"] + r["occasional"] == 1)
    if rows and single >= SINGLE_MEMBER_SHARE * len(rows):
        one = derivation.get("attributed_one_clinician", 0)
        attributed = derivation.get("encounters_attributed", 0)
        found.append(
            {
                "kind": "single-member-microsystems",
                "count": single,
                "message": (
                    f"{single} of {len(rows)} microsystem-periods have a single member: "
                    f"{one} of {attributed} attributed encounters record at most one clinician, "
                    "so the source cannot show teams; continuity of care and staff stability "
                    "of a one-member microsystem are perfect by construction, not findings"
                ),
            }
        )
    no_group = sum(1 for r in rows if r["encounters"] and not r["patients"])
    if no_group:
        found.append(
            {
                "kind": "no-patient-group",
                "count": no_group,
                "message": (
                    f"{no_group} microsystem-periods with encounters have no patient group: "
                    "their encounters name no patient, so their clinical measures are empty"
                ),
            }
        )
    return found


def finalize(
    spec: RunSpec,
    partitions: Iterable[str],
    measure_partitions: Iterable[str],
    store: Store,
    run_id: str,
) -> dict[str, Any]:
    """Merge part files, gather findings and results, write ``summary.json``.

    A run skipped because nothing changed since ``spec.since`` leaves the outputs as they are.
    """
    extract_parts = list(partitions)
    measure_partitions = list(measure_partitions)
    measure_parts = [safe_name(p) for p in measure_partitions]
    findings = _codec.findings_from(
        [store.get(_key(run_id, "findings", "plan")), store.get(_key(run_id, "findings", "derive"))]
        + [store.get(_key(run_id, "findings", "extract", p)) for p in extract_parts]
        + [store.get(_key(run_id, "findings", "measure", p)) for p in measure_parts],
        keep=FINDINGS_KEPT * 5,
    )
    findings = with_base_hints(findings)
    derivation = orjson.loads(store.get(_key(run_id, "derivation")) or b"{}")
    results = [
        row
        for p in measure_parts
        for row in orjson.loads(store.get(_key(run_id, "reports", p)) or b"[]")
    ]
    summary: dict[str, Any] = {
        "run_id": run_id,
        "spec": orjson.loads(spec.to_json()),
        "derivation": derivation,
        "results": results,
        "coverage": coverage(derivation, results),
        "limitations": limitations(derivation),
        "findings": findings.summary(),
    }
    if spec.sink_url:
        summary["sink"] = _sink_plan(store, run_id, measure_parts, spec.dry_run)
    if spec.out_dir and "unchanged_since" not in derivation:  # unchanged: outputs stand
        out = Path(spec.out_dir)
        summary["files"] = merge_parts(out, run_id, measure_partitions)
        out.mkdir(parents=True, exist_ok=True)
        write_file(  # findings name resources, patients among them
            out / "findings.ndjson", b"".join(orjson.dumps(f.to_dict()) + b"\n" for f in findings)
        )
        (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return summary
