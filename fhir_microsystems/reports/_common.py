"""Shared pieces of report building: instants, rounding, deterministic ids, extension URLs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from fhir_microsystems._errors import FatalError


class InvalidReportError(FatalError):
    """A built report breaks a FHIR rule or a binding; ``field`` names the element."""

    def __init__(self, message: str, *, field: str = "", **details: object) -> None:
        super().__init__(f"{field}: {message}" if field else message, field=field, **details)
        self.field = field


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC (``2025-03-01T00:00:00Z``)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: report times must be timezone-aware")
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def rounded(value: float, places: int) -> float:
    """``value`` rounded half-up to ``places`` decimals (on its shortest decimal form)."""
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def extension_url(canonical_base: str, name: str) -> str:
    """The URL of one of this project's extensions."""
    return f"{canonical_base}/StructureDefinition/{name}"


def report_identity(
    canonical_base: str,
    measure_url: str,
    version: str,
    microsystem: str,
    period: tuple[datetime, datetime],
) -> tuple[str, dict[str, str]]:
    """(id, identifier) of a report: the same inputs always give the same resource."""
    value = f"{measure_url}|{version}|{microsystem}|{instant(period[0])}|{instant(period[1])}"
    digest = hashlib.sha256(value.encode()).hexdigest()[:40]
    return f"mr-{digest}", {"system": f"{canonical_base}/id/measurereport", "value": value}


__all__ = ["InvalidReportError", "extension_url", "instant", "report_identity", "rounded"]
