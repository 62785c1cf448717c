"""Summary findings that tell the user how to fix a whole class of findings at once."""

from __future__ import annotations

from collections import Counter

from fhir_microsystems._findings import Findings
from fhir_microsystems.sources._references import ABSOLUTE_ELSEWHERE

#: Kind of the one finding per unknown server base (where = the base).
UNKNOWN_BASE = "unknown-source-base"


def with_base_hints(findings: Findings) -> Findings:
    """``findings`` with one ``unknown-source-base`` finding first per server base that
    absolute references named but the source does not know (no ``manifest.json`` names it and
    ``FHIRMS_SOURCE_BASE_ALIASES`` does not list it)."""
    prefix = f"{ABSOLUTE_ELSEWHERE} ("
    bases: Counter[str] = Counter(
        f.message[len(prefix) : -1]
        for f in findings
        if f.kind == "unresolved-reference" and f.message.startswith(prefix)
    )
    if not bases:
        return findings
    hinted = Findings(keep=findings.keep + len(bases))
    for base, count in bases.most_common():
        hinted.add(
            UNKNOWN_BASE,
            base,
            "",
            f"{count} absolute references name the server {base}, not known as the source's: "
            f"if the data came from it, set FHIRMS_SOURCE_BASE_ALIASES={base} "
            "(or put the export's manifest.json beside the NDJSON files)",
        )
    hinted.counts.update(findings.counts)
    hinted.items.extend(findings.items)
    return hinted


__all__ = ["UNKNOWN_BASE", "with_base_hints"]
