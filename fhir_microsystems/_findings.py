"""Data-quality findings: bad input is counted and reported, never silently dropped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

#: How many findings are kept in full; the rest are only counted (memory stays bounded).
DEFAULT_KEEP = 10_000


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with one input item.

    ``kind`` is a stable machine code (e.g. ``invalid-json``, ``missing-field``,
    ``unresolved-reference``, ``unexpected-unit``); ``where`` names the resource
    (``Type/id``) or the file and line (``Encounter.ndjson:12``); ``field`` the FHIRPath-ish
    element (``Encounter.period.start``); ``message`` a short human sentence. It never holds
    resource bodies, names or patient identifiers.
    """

    kind: str
    where: str
    field: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Findings:
    """Collects findings: counts every one, keeps the first ``keep`` in full."""

    keep: int = DEFAULT_KEEP
    counts: Counter[str] = field(default_factory=Counter)
    items: list[Finding] = field(default_factory=list)

    def add(self, kind: str, where: str, field: str = "", message: str = "") -> None:
        self.counts[kind] += 1
        if len(self.items) < self.keep:
            self.items.append(Finding(kind, where, field, message))

    def extend(self, other: Findings) -> None:
        self.counts.update(other.counts)
        room = self.keep - len(self.items)
        if room > 0:
            self.items.extend(other.items[:room])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return self.total

    def summary(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_kind": dict(sorted(self.counts.items())),
            "kept": len(self.items),
        }


__all__ = ["Finding", "Findings"]
