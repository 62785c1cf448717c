"""One patient's visits over the window: clinic visits, ED visits, admissions, deaths."""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from itertools import count

from .clock import MINUTES_PER_DAY, Clock
from .config import SynthConfig
from .effects import Effect
from .patients import PatientProfile
from .vocab import ED_PROBLEMS

MINUTES_PER_MONTH = 43_830
#: Relative ED arrivals per local hour (busy late morning to evening, quiet at night).
_ARRIVALS_BY_HOUR = (2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 7, 7, 7, 7, 7, 6, 6, 5, 4, 3, 2)
_SEVERE = {"233604007", "84114007", "91302008", "230690007", "13645005"}
_PROBLEM_WEIGHTS = [weight for _, _, weight in ED_PROBLEMS]
_DISCHARGES = (
    ("home", 74),
    ("snf", 8),
    ("rehab", 5),
    ("alt-home", 3),
    ("other-hcf", 3),
    ("long", 2),
    ("hosp", 2),
    ("aadvice", 3),
)


@dataclass(slots=True)
class Visit:
    """One encounter to be written."""

    kind: str
    micro: str
    start: int
    #: None while still in progress at the end of the window.
    end: int | None
    variant: str = ""
    problem: tuple[str, str] | None = None
    disposition: str | None = None
    admit_source: str | None = None
    #: ED visits ending in admission: the ward admitting the patient.
    admitted_to: str | None = None
    #: Id of the encounter-diagnosis Condition shared by an ED visit and its admission.
    condition_id: str | None = None


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; means here are small)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, drawn = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        drawn += 1
    return drawn


class _Planner:
    def __init__(
        self,
        rng: random.Random,
        profile: PatientProfile,
        clock: Clock,
        config: SynthConfig,
        wards: list[str],
        effects: dict[str, Effect],
    ) -> None:
        self.rng = rng
        self.profile = profile
        self.clock = clock
        self.config = config
        self.wards = wards
        self.effects = effects
        self.pending: list[tuple[int, int, str, str]] = []
        self.sequence = count()
        self.visits: list[Visit] = []
        self.busy_until = -1

    def push(self, minute: int, kind: str, variant: str = "") -> None:
        heapq.heappush(self.pending, (minute, next(self.sequence), kind, variant))

    def clinic_time(self, minute: int) -> int:
        """A weekday 08:00-16:30 local slot on or after ``minute``'s day."""
        clock = self.clock
        day = clock.local_midnight(minute)
        while clock.local_weekday(day + 720) >= 5:
            day += MINUTES_PER_DAY
        return day + 480 + 15 * self.rng.randrange(35)

    def arrival_time(self, minute: int) -> int:
        hour = self.rng.choices(range(24), _ARRIVALS_BY_HOUR)[0]
        return self.clock.local_midnight(minute) + hour * 60 + self.rng.randrange(60)

    def seed(self) -> None:
        rng, config, profile, end = self.rng, self.config, self.profile, self.clock.end
        months = self.clock.months
        if profile.team:
            rate = config.primary_care_visits_per_month * (1.5 if profile.chronic else 1.0)
            for _ in range(poisson(rng, rate * months)):
                self.push(self.clinic_time(rng.randrange(end)), "primary-care")
        if profile.cancer:
            begin = profile.cancer.active_from
            span = (end - begin) / MINUTES_PER_MONTH
            for _ in range(poisson(rng, config.oncology_visits_per_month * span)):
                self.push(self.clinic_time(rng.randrange(begin, end)), "oncology")
            if rng.random() < 0.08:
                profile.deceased_at = rng.randrange(begin, end)
        risk = 1 + 0.8 * profile.chronic + 1.0 * (profile.cancer is not None)
        for _ in range(poisson(rng, config.ed_visits_per_month * months * risk)):
            self.push(self.arrival_time(rng.randrange(end)), "emergency")
        for _ in range(poisson(rng, config.direct_admissions_per_month * months * risk)):
            self.push(self.clinic_time(rng.randrange(end)), "inpatient-ward", "direct")

    def run(self) -> list[Visit]:
        self.seed()
        while self.pending:
            minute, _, kind, variant = heapq.heappop(self.pending)
            dead = self.profile.deceased_at
            if minute >= self.clock.end or (dead is not None and minute >= dead):
                continue
            if minute < self.busy_until or minute < 0:
                continue
            if kind == "emergency":
                self.emergency(minute, variant)
            elif kind == "inpatient-ward":
                self.inpatient(minute, variant)
            else:
                self.outpatient(minute, kind)
        return self.visits

    def finish(self, visit: Visit, end: int) -> bool:
        """Close ``visit`` at ``end`` (or leave it in progress); True if it ended."""
        self.visits.append(visit)
        if end >= self.clock.end:
            visit.end = None
            visit.disposition = None
            self.busy_until = self.clock.end
            return False
        visit.end = end
        self.busy_until = end
        return True

    def emergency(self, start: int, variant: str) -> None:
        rng, config = self.rng, self.config
        code, display, _ = rng.choices(ED_PROBLEMS, _PROBLEM_WEIGHTS)[0]
        severe = code in _SEVERE
        admit_p = min(0.9, config.ed_admission_rate * (2.5 if severe else 0.6))
        admitted = variant == "readmission" or rng.random() < admit_p
        hours = (
            config.ed_los_median_hours * math.exp(rng.gauss(0, 0.7)) * (1.5 if admitted else 1.0)
        )
        length = max(20, round(hours * 60))
        if rng.random() < config.noisy(config.bad_los_noise):
            length = 0 if rng.random() < 0.5 else rng.randint(15, 40) * MINUTES_PER_DAY
        visit = Visit("emergency", "ed", start, None, problem=(code, display))
        if rng.random() < config.ed_mortality * (3 if severe else 1):
            visit.disposition = "exp"
        elif admitted:
            visit.disposition = "oth"
            visit.admitted_to = self.wards[rng.randrange(len(self.wards))]
        elif rng.random() < 0.03:
            visit.disposition = "aadvice"
        else:
            visit.disposition = "home"
        if not self.finish(visit, start + length):
            return
        end = start + length
        if visit.disposition == "exp":
            self.profile.deceased_at = end
        elif visit.admitted_to:
            self.inpatient(end, "from-ed", visit)
        elif rng.random() < config.ed_return_rate:
            self.push(end + rng.randint(240, 72 * 60 - 1), "emergency", "return")

    def inpatient(self, start: int, variant: str, ed_visit: Visit | None = None) -> None:
        rng, config, profile = self.rng, self.config, self.profile
        if ed_visit and ed_visit.admitted_to:
            ward, problem, source = ed_visit.admitted_to, ed_visit.problem, "emd"
        else:
            ward = self.wards[rng.randrange(len(self.wards))]
            code, display, _ = rng.choices(ED_PROBLEMS, _PROBLEM_WEIGHTS)[0]
            problem, source = (code, display), rng.choice(("gp", "outp"))
        effect = self.effects[ward]
        days = config.inpatient_los_median_days * math.exp(rng.gauss(0, 0.75)) * effect.los
        end = self.clock.local_midnight(start + round(days * MINUTES_PER_DAY))
        end += rng.randint(600, 1080)
        end = max(end, start + 240)
        visit = Visit("inpatient-ward", ward, start, None, variant, problem, admit_source=source)
        mortality = config.inpatient_mortality * (2.0 if profile.cancer else 1.0)
        mortality *= 1.5 if profile.age > 80 else 1.0
        if rng.random() < mortality:
            visit.disposition = "exp"
        else:
            codes, weights = zip(*_DISCHARGES, strict=True)
            visit.disposition = rng.choices(codes, weights)[0]
        if not self.finish(visit, end):
            return
        if visit.disposition == "exp":
            profile.deceased_at = end
        elif visit.disposition != "hosp" and rng.random() < min(
            1.0, config.readmission_rate * effect.readmission
        ):
            delay = rng.randint(MINUTES_PER_DAY, 29 * MINUTES_PER_DAY)
            kind = "emergency" if rng.random() < 0.7 else "inpatient-ward"
            self.push(end + delay, kind, "readmission")

    def outpatient(self, start: int, kind: str) -> None:
        rng = self.rng
        variant = ""
        if kind == "oncology":
            draw = rng.random()
            if draw < self.config.multidisciplinary_share:
                variant, length = "mdt", rng.randint(45, 90)
            elif draw < self.config.multidisciplinary_share + 0.3:
                variant, length = "chemo", rng.randint(120, 300)
            else:
                length = rng.randint(20, 45)
            problem = self.profile.cancer.code if self.profile.cancer else None
        else:
            length, problem = rng.randint(15, 40), None
        micro = "oncology" if kind == "oncology" else self.profile.team or ""
        self.finish(Visit(kind, micro, start, None, variant, problem), start + length)


def plan_visits(
    rng: random.Random,
    profile: PatientProfile,
    clock: Clock,
    config: SynthConfig,
    wards: list[str],
    effects: dict[str, Effect],
) -> list[Visit]:
    """The patient's visits in time order; sets ``profile.deceased_at`` on a death."""
    return _Planner(rng, profile, clock, config, wards, effects).run()
