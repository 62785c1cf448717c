"""Identity across periods: stable ids, joins/leaves, splits/merges, stability.

A period's microsystem keeps the id of an earlier one (whose latest version ended at most
``identity_horizon_months`` before this period starts, whatever the period length) when the
Jaccard index of their core memberships is at least ``identity_min_jaccard``; pairs are
matched greedily, best first (ties: same explicit CareTeam, then encounter-weighted member
overlap). What is left keeps an id of the same organisation through the same explicit
CareTeam or an encounter-weighted overlap of all members of at least
``identity_min_weighted_overlap``. A new microsystem's id is a hash of its organisation, its
first period and its core members, so reruns over the same data give the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

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
    #: The explicit team CareTeam attached to it, if any.
    careteam: str | None = None
    #: Its organisation.
    organization: str | None = None
    #: Core members of the version before (a core member back after a quiet month is not
    #: a join).
    earlier: frozenset[str] = frozenset()
    #: The end of the period of this version (None: the horizon is counted in periods).
    period_end: datetime | None = None


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


def _events(
    now: Mapping[str, Member],
    before: Mapping[str, Member],
    earlier: frozenset[str] = frozenset(),
) -> tuple[MembershipEvent, ...]:
    """Joins: core now, no member at all before, and not core of the version before that
    (back after a quiet month). Leaves: core before, no member now. (Moving between core
    and occasional, or floating in and out, is not an event.)"""
    joins = [MembershipEvent("join", p) for p in sorted(_core(now) - set(before) - earlier)]
    leaves = [MembershipEvent("leave", p) for p in sorted(_core(before) - set(now))]
    return (*joins, *leaves)


@dataclass(frozen=True, slots=True)
class DraftView:
    """What identity matching needs of a draft."""

    organization: str | None
    basis: frozenset[str]
    members: Mapping[str, Member]
    careteam: str | None = None


def weighted_overlap(a: Mapping[str, Member], b: Mapping[str, Member]) -> float:
    """Overlap (0..1) of two member lists weighted by encounters: the sum over shared
    members of the smaller of their shares of each list's member-encounters."""
    total_a = sum(m.encounters for m in a.values())
    total_b = sum(m.encounters for m in b.values())
    if not total_a or not total_b:
        return 0.0
    return sum(
        min(a[p].encounters / total_a, b[p].encounters / total_b) for p in a.keys() & b.keys()
    )


def _match(
    drafts: Sequence[DraftView], recent: Sequence[Known], config: DerivationConfig
) -> dict[int, Known]:
    """Greedy matching of drafts to recent microsystems.

    First by Jaccard of core memberships (at least ``identity_min_jaccard``; ties broken by
    the same explicit CareTeam, then encounter-weighted overlap of all members, then
    recency); then, for what is left, by the same explicit CareTeam or an encounter-weighted
    overlap of all members of at least ``identity_min_weighted_overlap`` (small teams whose
    two or three core members cross the core threshold from month to month).
    """
    scored = []
    for i, d in enumerate(drafts):
        for k in recent:
            same_team = d.careteam is not None and d.careteam == k.careteam
            weighted = weighted_overlap(d.members, k.members)
            if not (d.basis & k.basis or same_team or weighted):
                continue
            scored.append((jaccard(d.basis, k.basis), same_team, weighted, k, i))
    taken: dict[int, Known] = {}
    used: set[str] = set()
    first = sorted(scored, key=lambda s: (-s[0], -s[1], -s[2], -s[3].period_index, s[3].id, s[4]))
    for score, _, _, k, i in first:
        if score >= config.identity_min_jaccard and i not in taken and k.id not in used:
            taken[i] = k
            used.add(k.id)
    if config.identity_min_weighted_overlap < 1.0 or config.identity_by_careteam:
        second = sorted(
            scored, key=lambda s: (-(s[1] and config.identity_by_careteam), -s[2], s[3].id, s[4])
        )
        for _, same_team, weighted, k, i in second:
            if i in taken or k.id in used or k.organization != drafts[i].organization:
                continue
            if (same_team and config.identity_by_careteam) or (
                weighted >= config.identity_min_weighted_overlap and weighted > 0
            ):
                taken[i] = k
                used.add(k.id)
    return taken


def assign_identities(
    drafts: Sequence[DraftView],
    known: Mapping[str, Known],
    period_index: int,
    period_label: str,
    config: DerivationConfig,
    *,
    period_start: datetime | None = None,
) -> list[Identity]:
    """Ids, lineage, events and stability for one period's drafts (in draft order)."""
    recent = [k for k in known.values() if within_horizon(k, period_index, period_start, config)]
    taken = _match(drafts, recent, config)
    used = {k.id for k in taken.values()}
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
                events=(
                    _events(draft.members, before.members, before.earlier)
                    if before is not None
                    else ()
                ),
                split_from=split_from,
                merged_from=merged_from,
            )
        )
    return out


def within_horizon(
    known: Known, period_index: int, period_start: datetime | None, config: DerivationConfig
) -> bool:
    """Whether ``known`` may still be matched by a period starting at ``period_start``: its
    latest version ended at most ``identity_horizon_months`` before (with no times, at most
    that many periods back)."""
    if period_start is None or known.period_end is None:
        return period_index - known.period_index <= config.identity_horizon_months
    quiet = _month_number(period_start) - _month_number(known.period_end)  # period bounds
    return quiet <= config.identity_horizon_months


def _month_number(moment: datetime) -> int:
    return moment.year * 12 + moment.month - 1


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


__all__ = [
    "DraftView",
    "Identity",
    "Known",
    "assign_identities",
    "jaccard",
    "new_id",
    "weighted_overlap",
    "within_horizon",
]
