"""A run's source read by Bulk Data ``$export``: exported to a run-scoped NDJSON directory.

``resolve_source`` decides how a FHIR server is read (``bulk``, ``search`` or ``auto``: bulk
when the CapabilityStatement declares ``$export`` at the level asked), and for bulk exports
the types the run needs into ``<out>/bulk/<scope>/``, then the NDJSON pipeline reads that
directory. A later run of the same scope exports only the changes since the directory's
``transactionTime`` and merges them. Types a Patient- or Group-level export leaves out
(Practitioner, PractitionerRole, Organization, Location, and CareTeams without a subject)
are read by search into the same directory.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from fhir_microsystems._errors import ConfigurationError, ValidationRejectedError
from fhir_microsystems._settings import Settings
from fhir_microsystems.client import FhirClient
from fhir_microsystems.client._bulk import (
    BulkClient,
    BulkPolicy,
    ExportRequest,
    Level,
    Manifest,
    OnPoll,
)
from fhir_microsystems.client._capabilities import SYSTEM
from fhir_microsystems.connect import is_url, make_client
from fhir_microsystems.exporting import (
    MANIFEST,
    ExportReport,
    ExportState,
    add_searched,
    export_directory,
    install_export,
    previous_watermark,
)
from fhir_microsystems.periods import parse_fhir_datetime
from fhir_microsystems.pipeline._common import READ_MARGIN
from fhir_microsystems.pipeline._common import SOURCE_TYPES as RUN_TYPES

log = logging.getLogger("fhir_microsystems.bulk_runs")

Read = Literal["bulk", "search", "auto"]
#: Types outside the Patient compartment: a Patient/Group export leaves them out.
NOT_IN_COMPARTMENT = ("Organization", "Location", "Practitioner", "PractitionerRole")
#: Same margin the pipeline reads around the assessed window (network look-back, follow-ups).
#: Types bounded by clinical time with ``_typeFilter`` (their ``date`` search parameter).
WINDOWED = ("Encounter", "Observation")


@dataclass(frozen=True)
class ResolvedSource:
    """Where the run reads from (a URL for search, a directory for bulk) and the export."""

    location: str
    read: Literal["bulk", "search"]
    export: ExportReport | None = None


def bulk_policy(settings: Settings) -> BulkPolicy:
    origins = tuple(o.strip() for o in settings.bulk_token_origins.split(",") if o.strip())
    return BulkPolicy(
        max_wait=settings.bulk_max_wait_seconds,
        max_retry_after=settings.bulk_max_retry_after_seconds,
        workers=max(1, settings.bulk_workers),
        token_origins=origins,
    )


def export_level(settings: Settings, group: str | None) -> Level:
    return "group" if group else settings.bulk_level


def choose_read(client: FhirClient, read: Read, level: Level) -> Literal["bulk", "search"]:
    """``bulk`` or ``search``; ``auto`` asks the CapabilityStatement."""
    if read != "auto":
        return read
    where = {"system": SYSTEM, "patient": "Patient", "group": "Group"}[level]
    return "bulk" if client.capabilities().supports_export(where) else "search"


def read_window(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """The clinical-time window a run reads: the assessed days widened by READ_MARGIN."""
    lo = _midnight(date.fromisoformat(start) - READ_MARGIN) if start else None
    hi = _midnight(date.fromisoformat(end) + READ_MARGIN) if end else None
    return lo, hi


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def filter_window(directory: Path, lo: datetime | None, hi: datetime | None) -> Counter[str]:
    """Keep the Encounters and Observations of ``directory`` whose clinical time meets
    ``[lo, hi)``, as a ``date=ge&date=lt`` search would; returns how many were dropped
    (negative counts, to update an export's resource counts)."""
    dropped: Counter[str] = Counter()
    if lo is None and hi is None:
        return dropped
    manifest_path = directory / MANIFEST
    manifest = orjson.loads(manifest_path.read_bytes())
    for item in manifest.get("output") or ():
        if item.get("type") not in WINDOWED:
            continue
        path = directory / str(item["url"])
        tmp = path.with_name(path.name + ".tmp")
        kept = 0
        with path.open("rb") as src, tmp.open("wb") as out:
            for line in src:
                if not line.strip():
                    continue
                if _meets(orjson.loads(line), lo, hi):
                    out.write(line)
                    kept += 1
                else:
                    dropped[item["type"]] -= 1
        tmp.replace(path)
        item["count"] = kept
    manifest_path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return dropped


def _meets(resource: Any, lo: datetime | None, hi: datetime | None) -> bool:
    """Whether a resource's clinical time range meets ``[lo, hi)`` (FHIR ``ge``/``lt``)."""
    if not isinstance(resource, dict):
        return True  # the pipeline records it as a finding
    if resource.get("resourceType") == "Encounter":
        span = _span(resource.get("period"))
    else:
        span = _span(resource.get("effectivePeriod"))
        for key in ("effectiveDateTime", "effectiveInstant"):
            value = resource.get(key)
            if isinstance(value, str):
                span = _span({"start": value, "end": value})
    if span is None:
        return False  # no date: a date search does not match it
    first, last = span
    return (lo is None or last is None or last > lo) and (hi is None or first is None or first < hi)


def _span(period: Any) -> tuple[datetime | None, datetime | None] | None:
    """``(start, exclusive end)`` of a FHIR Period; None when it has neither or is bad."""
    if not isinstance(period, dict) or not (period.get("start") or period.get("end")):
        return None
    try:
        start = period.get("start")
        end = period.get("end")
        return (
            parse_fhir_datetime(start) if isinstance(start, str) else None,
            parse_fhir_datetime(end, upper=True) if isinstance(end, str) else None,
        )
    except ValueError:
        return None


def type_filters(start: str | None, end: str | None) -> tuple[str, ...]:
    """``_typeFilter`` queries bounding Encounters and Observations to the read window."""
    bounds = []
    if start:
        bounds.append(f"date=ge{(date.fromisoformat(start) - READ_MARGIN).isoformat()}")
    if end:
        bounds.append(f"date=lt{(date.fromisoformat(end) + READ_MARGIN).isoformat()}")
    if not bounds:
        return ()
    return tuple(f"{t}?{'&'.join(bounds)}" for t in WINDOWED)


def scope_directory(
    out_dir: Path, location: str, level: Level, group: str | None, filters: tuple[str, ...]
) -> Path:
    key = "|".join((location.rstrip("/"), level, group or "", *filters))
    return out_dir / "bulk" / hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BulkJob:
    """A run's bulk read: the server, the directory it is exported into, the level, the
    ``_typeFilter`` queries (dropped, ``client_filter``, when the server refused them) and
    the run's window. Stored as JSON with a Celery run, whose tasks export it step by step."""

    location: str
    directory: str
    level: Level
    group: str | None = None
    filters: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    client_filter: bool = False

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> BulkJob:
        data = orjson.loads(text)
        data["filters"] = tuple(data.get("filters") or ())
        return cls(**data)

    def request(self) -> tuple[ExportRequest, str | None]:
        """The export to ask for, ``_since`` the directory's watermark (also returned)."""
        types = (
            RUN_TYPES
            if self.level == "system"
            else tuple(t for t in RUN_TYPES if t not in NOT_IN_COMPARTMENT)
        )
        since = previous_watermark(Path(self.directory))
        return ExportRequest(
            level=self.level,
            group_id=self.group,
            types=types,
            type_filters=self.filters,
            since=datetime.fromisoformat(since) if since else None,
        ), since


def plan_bulk(
    location: str,
    out_dir: Path,
    settings: Settings,
    *,
    read: Read = "auto",
    group: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> BulkJob | None:
    """The bulk read of a run, or None when it reads ``location`` as it is (search, or a
    directory). ``auto`` asks the server's CapabilityStatement."""
    if not is_url(location):
        if read == "bulk" or group:
            raise ConfigurationError("--read bulk and --group need a FHIR base URL as --source")
        return None
    level = export_level(settings, group)
    with make_client(location, settings) as client:
        mode = choose_read(client, read, level)
    if mode == "search":
        if group:
            raise ConfigurationError("--group needs a bulk read (the server has no $export)")
        return None
    filters = type_filters(start, end) if settings.bulk_type_filter else ()
    directory = scope_directory(out_dir, location, level, group, filters)
    return BulkJob(location, str(directory), level, group, filters, start, end)


def resolve_source(
    location: str,
    out_dir: Path,
    settings: Settings,
    *,
    read: Read = "auto",
    group: str | None = None,
    start: str | None = None,
    end: str | None = None,
    on_poll: OnPoll | None = None,
    state_for: Callable[[Path], ExportState] | None = None,
) -> ResolvedSource:
    """The run's source: the URL itself (search) or a bulk-exported directory.

    ``state_for(directory)`` gives where the export's status URL is kept (default: a file in
    the directory; Redis for Celery runs).
    """
    job = plan_bulk(location, out_dir, settings, read=read, group=group, start=start, end=end)
    if job is None:
        return ResolvedSource(location, "search")
    directory = Path(job.directory)
    with make_client(location, settings) as client:
        report = export_run_types(
            client,
            directory,
            settings,
            job.level,
            group,
            job.filters,
            on_poll,
            read_window(start, end),
            state_for(directory) if state_for else None,
        )
    return ResolvedSource(str(directory), "bulk", report)


# -- a bulk read in steps (Celery runs: one task per poll, per file) ------------------------


def start_export(
    client: FhirClient, job: BulkJob, settings: Settings, state: ExportState
) -> tuple[str, BulkJob]:
    """The status URL of the job's export: the one kept in ``state`` (resumed), else a new
    kick-off; with the job as it now is (a server that refused ``_typeFilter`` is asked
    without it, and the window is filtered client-side at install)."""
    request, _ = job.request()
    kept = state.load(request.url(client.base_url))
    if kept is not None:
        return kept, job
    bulk = BulkClient(client, bulk_policy(settings))
    try:
        status_url = bulk.kick_off(request)
    except ValidationRejectedError as exc:
        if not job.filters or "_typeFilter" not in (exc.outcome or exc.message):
            raise
        log.warning("server refused _typeFilter; exporting without it (filtered client-side)")
        job = replace(job, filters=(), client_filter=True)
        request, _ = job.request()
        status_url = bulk.kick_off(request)
    state.save(request.url(client.base_url), status_url)
    log.info("export started")
    return status_url, job


def finish_export(
    client: FhirClient,
    job: BulkJob,
    settings: Settings,
    manifest: Manifest,
    status_url: str,
    state: ExportState,
) -> ExportReport:
    """Install a downloaded export into the job's directory, filter the window client-side
    if needed, and search the types the export level leaves out."""
    directory = Path(job.directory)
    _, since = job.request()
    bulk = BulkClient(client, bulk_policy(settings))
    report = install_export(bulk, directory, manifest, status_url, state, since=since)
    if job.client_filter:
        report.resources.update(filter_window(directory, *read_window(job.start, job.end)))
    search_omitted(client, directory, job.level, settings)
    return report


def search_omitted(client: FhirClient, directory: Path, level: Level, settings: Settings) -> None:
    """Read by search the types a Patient- or Group-level export leaves out."""
    if level == "system":
        return
    for rtype in NOT_IN_COMPARTMENT:
        add_searched(directory, rtype, client.search(rtype, count=settings.page_size))
    teams = client.search("CareTeam", {"subject:missing": "true"}, count=settings.page_size)
    add_searched(directory, "CareTeam", teams)


def export_run_types(
    client: FhirClient,
    directory: Path,
    settings: Settings,
    level: Level,
    group: str | None,
    filters: tuple[str, ...],
    on_poll: OnPoll | None = None,
    window: tuple[datetime | None, datetime | None] = (None, None),
    state: ExportState | None = None,
) -> ExportReport:
    """Export what a run needs into ``directory``; search what the export level leaves out.

    A server that refuses ``_typeFilter`` is asked again without it: the NDJSON pipeline
    bounds the window itself (client-side filtering).
    """
    types = (
        RUN_TYPES
        if level == "system"
        else tuple(t for t in RUN_TYPES if t not in NOT_IN_COMPARTMENT)
    )
    request = ExportRequest(level=level, group_id=group, types=types, type_filters=filters)
    policy = bulk_policy(settings)

    def export(request: ExportRequest) -> ExportReport:
        return export_directory(
            client,
            directory,
            request,
            policy=policy,
            incremental=True,
            on_poll=on_poll,
            state=state,
        )

    try:
        report = export(request)
    except ValidationRejectedError as exc:
        if not filters or "_typeFilter" not in (exc.outcome or exc.message):
            raise
        log.warning("server refused _typeFilter; exporting without it (filtered client-side)")
        report = export(ExportRequest(level=level, group_id=group, types=types))
        report.resources.update(filter_window(directory, *window))
    search_omitted(client, directory, level, settings)
    return report


__all__ = [
    "NOT_IN_COMPARTMENT",
    "RUN_TYPES",
    "BulkJob",
    "ResolvedSource",
    "bulk_policy",
    "choose_read",
    "export_run_types",
    "finish_export",
    "plan_bulk",
    "resolve_source",
    "search_omitted",
    "start_export",
    "type_filters",
]
