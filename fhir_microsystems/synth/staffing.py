"""Staff rosters month by month: who works where, who floats, who joins, leaves or moves."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .hospital import Hospital, Microsystem
from .ids import NpiFactory, uuid_from
from .names import human_name

#: Staff per microsystem kind at scale 1: (discipline, ED shift or "", count).
TEMPLATES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "emergency": (
        ("physician", "day", 4),
        ("physician", "night", 3),
        ("physician", "both", 1),
        ("nurse", "day", 8),
        ("nurse", "night", 6),
        ("pharmacist", "day", 1),
        ("social-worker", "day", 1),
    ),
    "inpatient-ward": (
        ("physician", "", 3),
        ("nurse", "", 7),
        ("pharmacist", "", 1),
        ("therapist", "", 1),
        ("social-worker", "", 1),
    ),
    "oncology": (
        ("physician", "", 3),
        ("nurse", "", 3),
        ("pharmacist", "", 1),
        ("social-worker", "", 1),
    ),
    "primary-care": (("physician", "", 2), ("nurse", "", 2)),
}
#: Practice-wide staff homed in the first primary-care team who cover every other team.
PRACTICE_SHARED = ("pharmacist", "social-worker")


@dataclass(slots=True)
class Role:
    """One contiguous assignment of a staff member to a microsystem (a PractitionerRole)."""

    id: str
    micro: str
    first_month: int
    #: Exclusive; None while it lasts to the end of the window.
    end_month: int | None
    start_date: str


@dataclass(slots=True, eq=False)
class Staff:
    """A practitioner and their monthly home microsystem."""

    index: int
    id: str
    npi: str
    discipline: str
    gender: str
    name: dict[str, Any]
    shift: str
    home: list[str | None]
    covers: list[str] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)
    #: Role id per month (None when not employed).
    role_at: list[str | None] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"Practitioner/{self.id}"


@dataclass(slots=True)
class Event:
    """A join, leave or move taking effect at the start of ``month``."""

    month: int
    staff: Staff
    type: str
    source: str | None
    target: str | None


@dataclass(slots=True)
class StaffPlan:
    """All staff over the window and the events that changed the rosters."""

    staff: list[Staff]
    events: list[Event]

    def core(self, month: int, micro: str) -> list[Staff]:
        """Who has ``micro`` as home in ``month``."""
        return [member for member in self.staff if member.home[month] == micro]


class _Planner:
    def __init__(self, rng: random.Random, hospital: Hospital, months: int) -> None:
        self.rng = rng
        self.hospital = hospital
        self.months = months
        self.npis = NpiFactory(rng)
        self.kinds = {micro.key: micro.kind for micro in hospital.microsystems}
        self.staff: list[Staff] = []
        self.events: list[Event] = []

    def hire(self, discipline: str, shift: str, micro: str, month: int) -> Staff:
        rng = self.rng
        gender = "female" if rng.random() < 0.6 else "male"
        member = Staff(
            index=len(self.staff),
            id=uuid_from(rng),
            npi=self.npis.next(),
            discipline=discipline,
            gender=gender,
            name=human_name(rng, gender),
            shift=shift,
            home=[None] * month + [micro] * (self.months - month),
        )
        self.staff.append(member)
        return member

    def move_targets(self, member: Staff, micro: Microsystem) -> list[str]:
        siblings = [
            other.key for other in self.hospital.of_kind(micro.kind) if other.key != micro.key
        ]
        if member.discipline == "nurse" and micro.kind in {"inpatient-ward", "oncology"}:
            siblings += [
                w.key
                for w in self.hospital.of_kind("inpatient-ward")
                if w.key != micro.key and w.key not in siblings
            ]
        return siblings

    def same_slot_left(self, member: Staff, micro: str, month: int) -> int:
        return sum(
            1
            for other in self.staff
            if other is not member
            and other.home[month] == micro
            and other.discipline == member.discipline
            and (other.shift == member.shift or self.kinds[micro] != "emergency")
        )


def plan_staff(
    rng: random.Random,
    hospital: Hospital,
    months: int,
    month_dates: list[str],
    *,
    scale: float,
    float_rate: float,
    turnover: float,
    move_share: float,
    replace_rate: float,
) -> StaffPlan:
    """Initial rosters from :data:`TEMPLATES`, floaters, then monthly turnover events."""
    planner = _Planner(rng, hospital, months)
    micros = hospital.by_key()
    for micro in hospital.microsystems:
        for discipline, shift, count in TEMPLATES[micro.kind]:
            for _ in range(max(1, round(count * scale))):
                planner.hire(discipline, shift, micro.key, 0)
    teams = hospital.of_kind("primary-care")
    for discipline in PRACTICE_SHARED:
        member = planner.hire(discipline, "", teams[0].key, 0)
        member.covers = [team.key for team in teams[1:]]
    for member in planner.staff:
        micro = micros[member.home[0] or ""]
        if member.covers or micro.kind == "emergency" or rng.random() >= float_rate:
            continue
        targets = planner.move_targets(member, micro)
        if member.discipline == "nurse" and micro.kind == "inpatient-ward":
            targets.append("ed")
        if targets:
            member.covers = [rng.choice(targets)]
    for month in range(1, months):
        for member in list(planner.staff):
            source = member.home[month - 1]
            if source is None or member.home[month] != source or rng.random() >= turnover:
                continue
            micro = micros[source]
            targets = planner.move_targets(member, micro)
            alone = planner.same_slot_left(member, source, month) == 0
            if targets and rng.random() < move_share:
                target = rng.choice(targets)
                member.home[month:] = [target] * (months - month)
                if micros[target].kind == "emergency" and not member.shift:
                    member.shift = "day"  # kept after leaving the ED: ignored elsewhere
                member.covers = [c for c in member.covers if c != target]
                planner.events.append(Event(month, member, "move", source, target))
            else:
                member.home[month:] = [None] * (months - month)
                planner.events.append(Event(month, member, "leave", source, None))
            if alone or rng.random() < replace_rate:
                shift = member.shift if micro.kind == "emergency" else ""
                if micro.kind == "emergency" and not shift:
                    shift = "day"
                joiner = planner.hire(member.discipline, shift, source, month)
                planner.events.append(Event(month, joiner, "join", None, source))
    _assign_roles(rng, planner.staff, months, month_dates)
    planner.events.sort(key=lambda event: (event.month, event.staff.index))
    return StaffPlan(planner.staff, planner.events)


def _assign_roles(
    rng: random.Random, staff: list[Staff], months: int, month_dates: list[str]
) -> None:
    """One Role per contiguous run of the same home microsystem."""
    for member in staff:
        member.role_at = [None] * months
        month = 0
        while month < months:
            micro = member.home[month]
            if micro is None:
                month += 1
                continue
            end = month
            while end < months and member.home[end] == micro:
                end += 1
            if month == 0:
                start = f"{int(month_dates[0][:4]) - rng.randint(1, 12)}{month_dates[0][4:]}"
            else:
                start = month_dates[month]
            role = Role(uuid_from(rng), micro, month, end if end < months else None, start)
            member.roles.append(role)
            member.role_at[month:end] = [role.id] * (end - month)
            month = end
