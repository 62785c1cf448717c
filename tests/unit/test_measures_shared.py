"""Work shared between the measures of one context gives what each measure gives alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import (
    MEASURES,
    EncounterFact,
    ObservationFact,
    PatientFact,
    compute_measure,
    compute_measures,
)
from fhir_microsystems.measures._catalog import GroupDefinition, MeasureDefinition
from fhir_microsystems.measures._clinical import (
    BP_DIASTOLIC_LIMIT,
    BP_SYSTOLIC_LIMIT,
    HBA1C_POOR_LIMIT,
    bp_control_cases,
    hba1c_cases,
    latest_bp_reading,
    latest_hba1c,
    patient_readings,
)
from fhir_microsystems.measures._encounters import attributed, continuity_cases, volume_cases
from fhir_microsystems.measures._result import (
    Case,
    GroupResult,
    PopulationCount,
    StrataKeys,
    Stratum,
    age_band,
    aggregate,
    aggregate_with,
    score_cases,
)
from tests.unit.test_measures_support import END, START, context, timelines

ORIGIN = datetime(2025, 2, 20, tzinfo=UTC)
PATIENTS = [f"Patient/p{i}" for i in range(6)]
CODES = ["initial-population", "denominator", "denominator-exclusion", "numerator"]


# -- the straightforward versions the shared ones must agree with ------------------------


def _reference_populations(
    group: GroupDefinition, cases: Sequence[Case]
) -> tuple[PopulationCount, ...]:
    return tuple(
        PopulationCount(code, tuple(sorted(c.key for c in cases if code in c.populations)))
        for code in group.codes
    )


def _reference_aggregate(
    definition: MeasureDefinition,
    group: GroupDefinition,
    cases: Sequence[Case],
    patients: Mapping[str, PatientFact],
    start: datetime,
) -> GroupResult:
    items = sorted(cases, key=lambda c: c.key)

    def fact(case: Case) -> PatientFact | None:
        return patients.get(case.patient) if case.patient else None

    def by_age(case: Case) -> str:
        found = fact(case)
        return age_band(found.birth_date if found else None, start)

    def by_gender(case: Case) -> str:
        found = fact(case)
        return (found.gender if found else None) or "unknown"

    keyers: dict[str, Callable[[Case], str]] = {
        "age-band": by_age,
        "gender": by_gender,
        "encounter-class": lambda c: c.encounter_class or "unknown",
    }
    strata = []
    for stratifier in group.stratifiers:
        buckets: dict[str, list[Case]] = {}
        for case in items:
            buckets.setdefault(keyers[stratifier](case), []).append(case)
        for value in sorted(buckets):
            bucket = buckets[value]
            strata.append(
                Stratum(
                    stratifier,
                    value,
                    _reference_populations(group, bucket),
                    score_cases(definition, bucket),
                )
            )
    return GroupResult(
        id=group.id,
        populations=_reference_populations(group, items),
        score=score_cases(definition, items),
        observations=tuple(
            (c.key, c.value)
            for c in items
            if "measure-observation" in c.populations and c.value is not None
        ),
        strata=tuple(strata),
        pending=tuple(c.key for c in items if c.pending),
    )


def _reference_score(cases: Sequence[Case]) -> float | None:
    excluded = {c.key for c in cases if "denominator-exclusion" in c.populations}
    eligible = {c.key for c in cases if "denominator" in c.populations} - excluded
    if not eligible:
        return None
    hits = {c.key for c in cases if "numerator" in c.populations} & eligible
    return len(hits) / len(eligible)


# -- strategies -----------------------------------------------------------------------------


@st.composite
def patient_facts(draw: st.DrawFn) -> dict[str, PatientFact]:
    facts = {}
    for key in PATIENTS[:-1]:  # the last patient has no fact
        born = draw(st.one_of(st.none(), st.dates(date(1930, 1, 1), date(2025, 6, 1))))
        gender = draw(st.sampled_from([None, "", "female", "male", "other"]))
        facts[key] = PatientFact(key, gender=gender, birth_date=born)
    return facts


@st.composite
def case_lists(draw: st.DrawFn) -> list[Case]:
    cases = []
    for _ in range(draw(st.integers(0, 25))):
        cases.append(
            Case(
                key=draw(st.sampled_from([f"Encounter/e{i}" for i in range(12)])),
                patient=draw(st.sampled_from([None, "", *PATIENTS])),
                populations=frozenset(draw(st.sets(st.sampled_from(CODES)))),
                value=draw(st.one_of(st.none(), st.floats(0, 100))),
                encounter_class=draw(st.sampled_from([None, "EMER", "IMP", "AMB"])),
                pending=draw(st.booleans()),
            )
        )
    return cases


@st.composite
def encounter_facts(draw: st.DrawFn) -> list[EncounterFact]:
    out = []
    for i in range(draw(st.integers(0, 25))):
        start = ORIGIN + timedelta(hours=12 * draw(st.integers(0, 100)))
        hours = draw(st.sampled_from([-12, 12, 36, 72, 720]))
        out.append(
            EncounterFact(
                key=f"Encounter/e{draw(st.integers(0, i))}",  # repeated keys: first one wins
                patient=draw(st.sampled_from([None, *PATIENTS])),
                cls=draw(st.sampled_from([None, "EMER", "IMP", "AMB"])),
                status=draw(st.sampled_from(["finished", "in-progress", "cancelled"])),
                start=draw(st.sampled_from([start, None])),
                end=start + timedelta(hours=hours),
                practitioners=tuple(
                    draw(
                        st.lists(st.sampled_from(["Practitioner/a", "Practitioner/x"]), max_size=2)
                    )
                ),
                discharge_disposition=draw(st.sampled_from([None, "exp", "home"])),
            )
        )
    return out


@st.composite
def observation_facts(draw: st.DrawFn) -> list[ObservationFact]:
    out = []
    for i in range(draw(st.integers(0, 30))):
        when = ORIGIN + timedelta(days=draw(st.integers(0, 45)))
        out.append(
            ObservationFact(
                key=f"Observation/o{i}",
                patient=draw(st.sampled_from(PATIENTS)),
                kind=draw(st.sampled_from(["bp-panel", "systolic", "diastolic", "hba1c", "pain"])),
                status=draw(st.sampled_from(["final", "amended", "preliminary"])),
                effective=draw(st.sampled_from([when, None])),
                systolic=draw(st.sampled_from([None, 120.0, 139.0, 140.0, 150.0])),
                diastolic=draw(st.sampled_from([None, 80.0, 90.0, 95.0])),
                value=draw(st.sampled_from([None, 7.0, 9.0, 9.5])),
                unit=draw(st.sampled_from(["%", "%", "mmol/mol"])),
            )
        )
    return out


QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@QUICK
@given(case_lists(), case_lists(), patient_facts())
def test_aggregate_agrees_with_the_straightforward_version(
    first: list[Case], second: list[Case], patients: dict[str, PatientFact]
) -> None:
    keys = StrataKeys(patients, START)  # one instance for several groups, as per context
    for definition in MEASURES:
        for group in definition.groups:
            for cases in (first, second):
                expected = _reference_aggregate(definition, group, cases, patients, START)
                assert aggregate(definition, group, iter(cases), patients, START) == expected
                assert aggregate_with(definition, group, cases, keys) == expected


@QUICK
@given(case_lists())
def test_proportion_score_agrees(cases: list[Case]) -> None:
    proportion = next(d for d in MEASURES if d.scoring == "proportion")
    assert score_cases(proportion, cases) == _reference_score(cases)


@QUICK
@given(encounter_facts(), observation_facts(), patient_facts(), st.sets(st.sampled_from(PATIENTS)))
def test_measures_together_equal_measures_alone(
    encounters: list[EncounterFact],
    observations: list[ObservationFact],
    patients: dict[str, PatientFact],
    group: set[str],
) -> None:
    ctx = context(encounters, group, data_end=END + timedelta(days=10))
    lines = timelines(encounters, observations)
    together = compute_measures(ctx, lines, patients, findings=Findings())
    alone = [compute_measure(d, ctx, lines, patients, findings=Findings()) for d in MEASURES]
    assert together == alone


@QUICK
@given(observation_facts(), st.sets(st.sampled_from(PATIENTS)))
def test_one_pass_readings_equal_the_latest_of_each(
    observations: list[ObservationFact], group: set[str]
) -> None:
    ctx = context((), group)
    lines = timelines((), observations)
    readings = patient_readings(ctx, lines)
    assert [r[0] for r in readings] == sorted(group)
    for patient, bp, hba1c in readings:
        assert bp == latest_bp_reading(lines.observations_of(patient), ctx)
        assert hba1c == latest_hba1c(lines.observations_of(patient), ctx)
    bp_expected = []
    a1c_expected = []
    for patient in sorted(group):
        pops = {"initial-population"}
        reading = latest_bp_reading(lines.observations_of(patient), ctx)
        if reading is not None:
            pops.add("denominator")
            if reading[1] < BP_SYSTOLIC_LIMIT and reading[2] < BP_DIASTOLIC_LIMIT:
                pops.add("numerator")
        bp_expected.append(Case(patient, patient, frozenset(pops)))
        pops = {"initial-population"}
        result = latest_hba1c(lines.observations_of(patient), ctx)
        if result is not None:
            pops.add("denominator")
            if result[1] > HBA1C_POOR_LIMIT:
                pops.add("numerator")
        a1c_expected.append(Case(patient, patient, frozenset(pops)))
    assert bp_control_cases(ctx, lines) == bp_expected
    assert hba1c_cases(ctx, lines) == a1c_expected


@QUICK
@given(encounter_facts())
def test_continuity_and_volume_agree_with_the_straightforward_version(
    encounters: list[EncounterFact],
) -> None:
    ctx = context(encounters)
    started = [e for e in attributed(ctx) if not e.void and ctx.in_period(e.start)]
    seen: dict[str, Counter[str]] = {}
    for e in started:
        if e.patient is not None:
            counts = seen.setdefault(e.patient, Counter())
            primary = next((p for p in e.practitioners if p in ctx.members), None)
            if primary is not None:
                counts[primary] += 1
    expected = []
    for patient, counts in seen.items():
        total = sum(counts.values())
        if total >= 2:
            value = (sum(n * n for n in counts.values()) - total) / (total * (total - 1))
            pops = {"initial-population", "measure-population", "measure-observation"}
            expected.append(Case(patient, patient, frozenset(pops), value=value))
        else:
            expected.append(Case(patient, patient, frozenset({"initial-population"})))
    assert continuity_cases(ctx) == expected
    by_encounter, by_patient = volume_cases(ctx)
    initial = frozenset({"initial-population"})
    assert by_encounter == [Case(e.key, e.patient, initial, encounter_class=e.cls) for e in started]
    assert by_patient == [
        Case(p, p, initial) for p in sorted({e.patient for e in started if e.patient})
    ]
