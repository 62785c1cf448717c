"""Who fills a staffing slot: the unit's core staff in rotation, now and then a floater."""

from __future__ import annotations

import random
from collections import defaultdict

from .staffing import Staff, StaffPlan


class Rosters:
    """Monthly core lists per (microsystem, discipline, ED shift) and floaters per unit.

    Core staff are taken in rotation (so every core member works), with some random picks;
    a floater covering the unit fills a slot with probability ``cover_rate``. Who worked in
    a unit other than their home (consultants aside) is recorded with :meth:`record`.
    """

    def __init__(self, plan: StaffPlan, months: int, cover_rate: float) -> None:
        self.cover_rate = cover_rate
        self._core: dict[tuple[int, str, str, str], list[Staff]] = defaultdict(list)
        self._floaters: dict[tuple[int, str, str], list[Staff]] = defaultdict(list)
        self._position: dict[tuple[int, str, str, str], int] = defaultdict(int)
        self.occasional: dict[tuple[int, str], set[int]] = defaultdict(set)
        for member in plan.staff:
            for month in range(months):
                home = member.home[month]
                if home is None:
                    continue
                self._core[(month, home, member.discipline, member.shift)].append(member)
                if member.shift:
                    self._core[(month, home, member.discipline, "")].append(member)
                for cover in member.covers:
                    if cover != home:
                        self._floaters[(month, cover, member.discipline)].append(member)

    def record(self, month: int, micro: str, member: Staff) -> None:
        """Note that ``member`` worked in ``micro`` in ``month`` (occasional if not home)."""
        if member.home[month] != micro:
            self.occasional[(month, micro)].add(member.index)

    def core(self, month: int, micro: str, discipline: str, shift: str = "") -> list[Staff]:
        """Core staff of ``micro`` in ``month`` (ED: of one shift; "" = any shift)."""
        return self._core.get((month, micro, discipline, shift), [])

    def pick(
        self, rng: random.Random, month: int, micro: str, discipline: str, shift: str = ""
    ) -> Staff | None:
        """Someone to fill one slot, or None when the unit has nobody of that discipline."""
        floaters = self._floaters.get((month, micro, discipline))
        core = self._core.get((month, micro, discipline, shift))
        if floaters and (not core or rng.random() < self.cover_rate):
            return floaters[rng.randrange(len(floaters))]
        if not core:
            return None
        if rng.random() < 0.25:
            return core[rng.randrange(len(core))]
        key = (month, micro, discipline, shift)
        position = self._position[key]
        self._position[key] = position + 1
        return core[position % len(core)]
