"""Lines read one at a time as a source reads them: the reference the extract SQL is
compared with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fhir_microsystems._findings import Finding, Findings
from fhir_microsystems.sources._ndjson import read_line

T = TypeVar("T")


def read_alone(
    lines: Iterable[bytes],
    resource_type: str,
    findings: Findings,
    read: Callable[[dict[str, Any]], T | None],
) -> list[T]:
    """``read`` of each line that is a usable ``resource_type`` resource (lines named
    ``<Type>.ndjson:<n>`` in findings), in line order; what it returns, less the Nones."""
    found: list[T] = []
    in_file = f"{resource_type}.ndjson:{{}}".format
    for number, line in enumerate(lines, start=1):
        resource = read_line(line + b"\n", resource_type, in_file, number)
        if isinstance(resource, Finding):
            findings.add(resource.kind, resource.where, resource.field, resource.message)
            continue
        value = read(resource)
        if value is not None:
            found.append(value)
    return found
