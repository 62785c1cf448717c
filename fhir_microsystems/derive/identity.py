"""Identity across periods: stable ids, joins/leaves, splits/merges, stability.

A period's microsystem keeps the id of an earlier one (seen in the last
``identity_memory_periods`` periods) when the Jaccard index of their core memberships is at
least ``identity_min_jaccard``; pairs are matched greedily, best first. A new microsystem's
id is a hash of its organisation, its first period and its core members, so reruns over the
same data give the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .config import DerivationConfig
from .model import Member, MembershipEvent


@dataclass(frozen=True, slots=True)
class Known:
    """The latest version of a microsystem id."""

    id: str
    basis: frozenset[str]
    members: Mapping[str, Member]
    period_index: int
    first_period: str


@dataclass(frozen=True, slots=True)
class Identity:
    """What identity matching decided for one draft."""

    id: str
    first_period: str
    stability: float | None
    events: tuple[MembershipEvent, ...]
    split_from: tuple[str, ...]
    merged_from: tuple[str, ...]


def _core(members: Mapping[str, Member]) -> frozenset[str]:
    return frozenset(k for k, m in members.items() if m.core)


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """Size of the intersection over size of the union (1.0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def new_id(organization: str | None, period_label: str, basis: frozenset[str]) -> str:
    """Deterministic id of a microsystem first seen in ``period_label``."""
    text = "|".join((organization or "", period_label, ",".join(sorted(basis))))
    return "ms-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _events(now: Mapping[str, Member], before: Mapping[str, Member]) -> tuple[MembershipEvent, ...]:
    """Joins: core now, no member at all before. Leaves: core before, no member now.
    (Moving between core and occasional, or floating in and out, is not an event.)"""
    joins = [MembershipEvent("join", p) for p in sorted(_core(now) - set(before))]
    leaves = [MembershipEvent("leave", p) for p in sorted(_core(before) - set(now))]
    return (*joins, *leaves)


@dataclass(frozen=True, slots=True)
class DraftView:
    """What identity matching needs of a draft."""

    organization: str | None
    basis: frozenset[str]
    members: Mapping[str, Member]


def assign_identities(
    drafts: Sequence[DraftView],
    known: Mapping[str, Known],
    period_index: int,
    period_label: str,
    config: DerivationConfig,
) -> list[Identity]:
    """Ids, lineage, events and stability for one period's drafts (in draft order)."""
    recent = [
        k for k in known.values() if period_index - k.period_index <= config.identity_memory_periods
    ]
    pairs = sorted(
        (
            (-jaccard(d.basis, k.basis), -k.period_index, k.id, i)
            for i, d in enumerate(drafts)
            for k in recent
            if d.basis & k.basis
        ),
    )
    taken: dict[int, Known] = {}
    used: set[str] = set()
    for negative, _, known_id, i in pairs:
        if -negative < config.identity_min_jaccard or i in taken or known_id in used:
            continue
        taken[i] = known[known_id]
        used.add(known_id)
    out: list[Identity] = []
    ids_now: set[str] = set()
    for i, draft in enumerate(drafts):
        before = taken.get(i)
        if before is not None:
            ident, first = before.id, before.first_period
        else:
            ident, first = new_id(draft.organization, period_label, draft.basis), period_label
            while ident in ids_now or ident in known:
                ident = new_id(ident, period_label, draft.basis)
        ids_now.add(ident)
        previous = [k for k in recent if k.period_index == period_index - 1]
        split_from, merged_from = _lineage(draft, before, previous, used, config)
        out.append(
            Identity(
                id=ident,
                first_period=first,
                stability=(
                    jaccard(draft.basis, before.basis)
                    if before is not None and before.period_index == period_index - 1
                    else None
                ),
                events=_events(draft.members, before.members) if before is not None else (),
                split_from=split_from,
                merged_from=merged_from,
            )
        )
    return out


def _lineage(
    draft: DraftView,
    before: Known | None,
    previous: Sequence[Known],
    continued: set[str],
    config: DerivationConfig,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split-from: previous-period microsystems (other than its own) that supplied much of
    this one. Merged-from: previous-period ones that ended and went mostly into this one."""
    split_from, merged_from = [], []
    for other in sorted(previous, key=lambda k: k.id):
        if before is not None and other.id == before.id:
            continue
        shared = len(draft.basis & other.basis)
        if not shared:
            continue
        if other.id not in continued and before is not None:
            if shared / len(other.basis) >= config.lineage_min_overlap:
                merged_from.append(other.id)
        elif shared / len(draft.basis) >= config.lineage_min_overlap:
            split_from.append(other.id)
    return tuple(split_from), tuple(merged_from)


__all__ = ["DraftView", "Identity", "Known", "assign_identities", "jaccard", "new_id"]
