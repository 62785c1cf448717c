"""Load a Bulk-Data NDJSON directory into a FHIR server with ``PUT Type/id`` transactions.

Files are read line by line (``Type.ndjson``, ``Type.000.ndjson``, ``Type.ndjson.gz``), types
go in dependency order (referenced before referencing), ids are kept so a rerun is
idempotent, and references (conditional ones included) are sent exactly as found.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhir_microsystems._errors import FatalFhirError
from fhir_microsystems._fhir_id import is_fhir_id
from fhir_microsystems._findings import Findings
from fhir_microsystems.client import FhirClient
from fhir_microsystems.sources._ndjson import DEFAULT_MAX_LINE_BYTES, bounded_lines, skip_bom

log = logging.getLogger("fhir_microsystems.loading")

#: Known types, referenced before referencing; other types follow alphabetically.
LOAD_ORDER = (
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "HealthcareService",
    "Endpoint",
    "Patient",
    "RelatedPerson",
    "Group",
    "Device",
    "Medication",
    "EpisodeOfCare",
    "Encounter",
    "Condition",
    "Procedure",
    "AllergyIntolerance",
    "Immunization",
    "MedicationRequest",
    "CarePlan",
    "CareTeam",
    "Observation",
    "DiagnosticReport",
    "DocumentReference",
    "Claim",
    "ExplanationOfBenefit",
    "Measure",
    "MeasureReport",
    "Provenance",
)
_FILE = re.compile(r"(?P<type>[A-Z][A-Za-z]+)(?:\.\d+)?\.ndjson(?:\.gz)?")
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")


@dataclass(frozen=True)
class LoadFailure:
    """Resources the server refused: where they came from, HTTP status, outcome text."""

    resource_type: str
    where: str
    count: int
    status: int
    outcome: str


@dataclass(frozen=True)
class LoadProgress:
    """Passed to ``on_progress`` after each bundle."""

    resource_type: str
    loaded: int
    total_loaded: int
    failed: int


@dataclass
class LoadReport:
    """What a load did: resources loaded per type, refused bundles/entries, bad lines."""

    loaded: Counter[str] = field(default_factory=Counter)
    failures: list[LoadFailure] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)
    bundles: int = 0

    @property
    def total(self) -> int:
        return sum(self.loaded.values())

    @property
    def failed(self) -> int:
        return sum(f.count for f in self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.findings.total

    def to_dict(self) -> dict[str, Any]:
        return {
            "loaded": dict(sorted(self.loaded.items())),
            "total": self.total,
            "bundles": self.bundles,
            "failures": [f.__dict__ for f in self.failures],
            "findings": self.findings.summary(),
        }


@dataclass
class _Entry:
    resource_type: str
    resource_id: str
    where: str
    resource: dict[str, Any]


def ndjson_files(source_dir: str | Path) -> dict[str, list[Path]]:
    """NDJSON files of ``source_dir`` by resource type, in load order."""
    found: dict[str, list[Path]] = {}
    for path in sorted(Path(source_dir).iterdir()):
        match = _FILE.fullmatch(path.name)
        if match and path.is_file():
            found.setdefault(match["type"], []).append(path)
    rank = {t: i for i, t in enumerate(LOAD_ORDER)}
    ordered = sorted(found, key=lambda t: (rank.get(t, len(rank)), t))
    return {t: found[t] for t in ordered}


def load_directory(
    source_dir: str | Path,
    client: FhirClient,
    *,
    batch_size: int = 200,
    on_progress: Callable[[LoadProgress], None] | None = None,
    types: Collection[str] | None = None,
    isolate_failures: bool = True,
) -> LoadReport:
    """Load every ``Type*.ndjson[.gz]`` file of ``source_dir`` (only ``types`` if given).

    Bad lines become findings (``file:line``) and are skipped. A refused transaction is
    resent as a batch when ``isolate_failures`` so only the bad entries are lost; each
    refusal lands in ``LoadReport.failures`` with the server's OperationOutcome text.
    Temporary faults are retried by the client; when its budget runs out the error
    propagates (a rerun is safe: every write is ``PUT Type/id``).
    """
    report = LoadReport()
    loader = _Loader(client, report, batch_size, on_progress, isolate_failures)
    for resource_type, paths in ndjson_files(source_dir).items():
        if types is not None and resource_type not in types:
            continue
        for path in paths:
            for entry in _read(path, resource_type, report.findings):
                loader.add(entry)
        loader.flush()
        log.info("loaded %d %s resources", report.loaded[resource_type], resource_type)
    if report.failures or report.findings.total:
        log.warning(
            "load finished with %d refused resources and %d bad lines",
            report.failed,
            report.findings.total,
        )
    return report


class _Loader:
    def __init__(
        self,
        client: FhirClient,
        report: LoadReport,
        batch_size: int,
        on_progress: Callable[[LoadProgress], None] | None,
        isolate_failures: bool,
    ) -> None:
        self.client = client
        self.report = report
        self.batch_size = max(1, batch_size)
        self.on_progress = on_progress
        self.isolate_failures = isolate_failures
        self.chunk: list[_Entry] = []
        self.keys: set[tuple[str, str]] = set()

    def add(self, entry: _Entry) -> None:
        key = (entry.resource_type, entry.resource_id)
        if key in self.keys:
            self.flush()  # the same resource twice in one transaction would be refused
        self.chunk.append(entry)
        self.keys.add(key)
        if len(self.chunk) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.chunk:
            return
        chunk, self.chunk, self.keys = self.chunk, [], set()
        self.report.bundles += 1
        try:
            self.client.transaction(self._bundle("transaction", chunk), prefer="return=minimal")
        except FatalFhirError as exc:
            if self.isolate_failures and len(chunk) > 1:
                self._as_batch(chunk)
            else:
                self._fail(chunk, exc.status, exc.outcome or exc.message)
        else:
            self.report.loaded.update(e.resource_type for e in chunk)
        self._progress(chunk[-1].resource_type)

    def _as_batch(self, chunk: list[_Entry]) -> None:
        try:
            bundle = self._bundle("batch", chunk)
            result = self.client.batch(bundle, prefer="return=OperationOutcome")
        except FatalFhirError as exc:
            self._fail(chunk, exc.status, exc.outcome or exc.message)
            return
        failed = {f.index: f for f in result.failures}
        for index, entry in enumerate(chunk):
            if index in failed:
                self._fail([entry], failed[index].status, failed[index].outcome)
            else:
                self.report.loaded[entry.resource_type] += 1

    def _fail(self, chunk: list[_Entry], status: int, outcome: str) -> None:
        where = chunk[0].where if len(chunk) == 1 else f"{chunk[0].where}..{chunk[-1].where}"
        failure = LoadFailure(chunk[0].resource_type, where, len(chunk), status, outcome)
        self.report.failures.append(failure)

    def _bundle(self, kind: str, chunk: list[_Entry]) -> dict[str, Any]:
        base = self.client.base_url
        return {
            "resourceType": "Bundle",
            "type": kind,
            "entry": [
                {
                    "fullUrl": f"{base}/{e.resource_type}/{e.resource_id}",
                    "resource": e.resource,
                    "request": {"method": "PUT", "url": f"{e.resource_type}/{e.resource_id}"},
                }
                for e in chunk
            ],
        }

    def _progress(self, resource_type: str) -> None:
        if self.on_progress is not None:
            self.on_progress(
                LoadProgress(
                    resource_type,
                    self.report.loaded[resource_type],
                    self.report.total,
                    self.report.failed,
                )
            )


def _open(path: Path) -> io.BufferedIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb")


def _read(path: Path, file_type: str, findings: Findings) -> Iterator[_Entry]:
    """Valid resources of one NDJSON file, streamed; bad lines become findings."""
    with _open(path) as stream:
        skip_bom(stream, path.name, findings)
        for number, line in bounded_lines(stream, DEFAULT_MAX_LINE_BYTES):
            where = f"{path.name}:{number}"
            if line is None:
                findings.add("line-too-long", where, message="line too long: skipped")
                continue
            if not line.strip():
                continue
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                findings.add("invalid-json", where, message="line is not valid JSON")
                continue
            if not isinstance(resource, dict):
                findings.add("invalid-json", where, message="line is not a JSON object")
                continue
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if not isinstance(rtype, str) or not _TYPE.fullmatch(rtype):
                findings.add("missing-field", where, "resourceType", "no valid resourceType")
                continue
            if not is_fhir_id(rid):
                findings.add("missing-field", where, f"{rtype}.id", "no valid id")
                continue
            if rtype != file_type:
                findings.add(
                    "unexpected-type", where, "resourceType", f"{rtype} in a {file_type} file"
                )
            yield _Entry(rtype, rid, where, resource)


__all__ = [
    "LOAD_ORDER",
    "LoadFailure",
    "LoadProgress",
    "LoadReport",
    "load_directory",
    "ndjson_files",
]
