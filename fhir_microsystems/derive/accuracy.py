"""Accuracy against a synthetic hospital's ground truth: ARI, event F1 and baselines.

Ground truth (``ground-truth.json`` of :mod:`fhir_microsystems.synth`) lists, per month and
microsystem, the core and occasional practitioners, and the join / leave / move events.
Practitioner partitions are compared with the adjusted Rand index (Hubert & Arabie 1985)
over the ground-truth core practitioners that took part in an encounter that month (the
ones any method can see).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

from fhir_microsystems.periods import Period

from .careteams import ExplicitTeam
from .model import Derivation
from .records import EncounterRecord


def adjusted_rand_index(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Adjusted Rand index of two labelings of the same items (1 = identical partitions,
    about 0 = chance). Two trivial partitions that agree give 1.0."""
    if len(truth) != len(predicted):
        raise ValueError("labelings differ in length")
    n = len(truth)
    if n < 2:
        return 1.0
    pairs = Counter(zip(truth, predicted, strict=True))
    index = sum(comb(c, 2) for c in pairs.values())
    rows = sum(comb(c, 2) for c in Counter(truth).values())
    cols = sum(comb(c, 2) for c in Counter(predicted).values())
    total = comb(n, 2)
    expected = rows * cols / total
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def f1(found: set[Any], truth: set[Any]) -> tuple[float, float, float]:
    """``(precision, recall, F1)``; empty against empty counts as perfect."""
    if not found and not truth:
        return 1.0, 1.0, 1.0
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth) if truth else 0.0
    score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, score


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The parts of ``ground-truth.json`` accuracy needs."""

    #: month -> practitioner -> ground-truth microsystem key (core membership).
    core: dict[str, dict[str, str]]
    #: month -> ground-truth microsystem -> occasional practitioners.
    occasional: dict[str, dict[str, set[str]]]
    #: (month, practitioner, "join" | "leave", microsystem key).
    events: set[tuple[str, str, str, str]]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroundTruth:
        core: dict[str, dict[str, str]] = {}
        occasional: dict[str, dict[str, set[str]]] = {}
        for entry in data["periods"]:
            month = entry["month"]
            core[month] = {}
            occasional[month] = {}
            for key, lists in entry["microsystems"].items():
                for practitioner in lists.get("core", ()):
                    core[month][practitioner] = key
                occasional[month][key] = set(lists.get("occasional", ()))
        events: set[tuple[str, str, str, str]] = set()
        for event in data.get("events", ()):
            month, who = event["month"], event["practitioner"]
            if event.get("from"):
                events.add((month, who, "leave", event["from"]))
            if event.get("to"):
                events.add((month, who, "join", event["to"]))
        return cls(core, occasional, events)


def active_practitioners(records: Iterable[EncounterRecord], period: Period) -> set[str]:
    """Practitioners taking part in an encounter that starts in ``period``."""
    return {
        p
        for rec in records
        if rec.start is not None and rec.start in period
        for p in rec.participants
    }


def ari_for(
    truth: Mapping[str, str], predicted: Mapping[str, str], practitioners: Iterable[str]
) -> float:
    """ARI over ``practitioners`` (those without a prediction count as singletons)."""
    people = sorted(p for p in practitioners if p in truth)
    return adjusted_rand_index(
        [truth[p] for p in people], [predicted.get(p, f"alone:{p}") for p in people]
    )


def by_service_provider(records: Iterable[EncounterRecord], period: Period) -> dict[str, str]:
    """Baseline: each practitioner's plurality serviceProvider in the period."""
    tally: dict[str, Counter[str]] = {}
    for rec in records:
        if rec.start is not None and rec.start in period:
            for p in rec.participants:
                tally.setdefault(p, Counter())[rec.service_provider or "none"] += 1
    return {p: min(c, key=lambda k: (-c[k], k)) for p, c in tally.items()}


def by_careteam(teams: Iterable[ExplicitTeam], period: Period) -> dict[str, str]:
    """Baseline: each practitioner's team CareTeam in force in the period (first by key)."""
    out: dict[str, str] = {}
    for team in sorted(teams, key=lambda t: t.key):
        if team.in_force(period):
            for member in team.members_in(period):
                out.setdefault(member.practitioner, team.key)
    return out


def detected_events(derivation: Derivation, truth: GroundTruth) -> set[tuple[str, str, str, str]]:
    """Derived core joins/leaves, each microsystem mapped to the ground-truth one holding
    most of its core members in that month."""
    out: set[tuple[str, str, str, str]] = set()
    for period in derivation.periods:
        month = period.label
        core_truth = truth.core.get(month, {})
        for item in derivation.microsystems.get(month, ()):
            votes = Counter(core_truth[p] for p in item.core_members if p in core_truth)
            if not votes:
                continue
            mapped = min(votes, key=lambda k: (-votes[k], k))
            for event in item.events:
                out.add((month, event.practitioner, event.kind, mapped))
    return out


def truth_events_in(truth: GroundTruth, months: Iterable[str]) -> set[tuple[str, str, str, str]]:
    """Ground-truth events of the given months, except the first (nothing to compare with)."""
    ordered = sorted(months)[1:]
    return {e for e in truth.events if e[0] in ordered}


__all__ = [
    "GroundTruth",
    "active_practitioners",
    "adjusted_rand_index",
    "ari_for",
    "by_careteam",
    "by_service_provider",
    "detected_events",
    "f1",
    "truth_events_in",
]
