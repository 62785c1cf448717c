"""What a run is asked to do: small, JSON-serialisable, the same in-process and on workers."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Literal

import orjson

from fhir_microsystems._errors import ConfigurationError
from fhir_microsystems.client import has_userinfo

PeriodKind = Literal["month", "quarter", "year"]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One assessment run.

    ``source`` is an NDJSON directory or a FHIR base URL; outputs go to ``out_dir`` (NDJSON,
    Bulk-Data layout) and/or ``sink_url`` (a FHIR server, written idempotently). ``start`` and
    ``end`` are ISO dates bounding the assessed periods (half-open); both empty means the 12
    months up to the latest encounter in the source.
    """

    source: str
    out_dir: str | None = None
    sink_url: str | None = None
    start: str | None = None
    end: str | None = None
    period: PeriodKind = "month"
    evidence: bool = False
    canonical_base: str = "https://fhir-microsystems.org/fhir"
    since: str | None = None
    #: with a sink: read it and plan, write nothing to it (the plan is in the summary)
    dry_run: bool = False

    def __post_init__(self) -> None:
        """Refuse FHIR URLs with ``user:password@``: a spec is logged and stored in Redis."""
        for name, setting in (("source", "FHIRMS_AUTH"), ("sink_url", "FHIRMS_SINK_AUTH")):
            value = getattr(self, name)
            if value and value.startswith(("http://", "https://")) and has_userinfo(value):
                raise ConfigurationError(
                    f"the {name.replace('_url', '')} URL must not carry user:password@ (it "
                    f"would be logged and stored); give credentials with {setting} and its "
                    "token or SMART settings",
                    field=name,
                )

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> RunSpec:
        return cls(**orjson.loads(text))

    def scope_key(self) -> str:
        """Stable hash of what makes two runs the same scope (their outputs coincide)."""
        scope = [self.source, self.out_dir, self.sink_url, self.start, self.end, self.period]
        if self.dry_run:  # a dry run never joins (or blocks) a real one
            scope.append("dry-run")
        return hashlib.sha256(orjson.dumps(scope)).hexdigest()[:24]

    def with_window(self, start: str | None, end: str | None) -> RunSpec:
        return replace(self, start=start, end=end)
