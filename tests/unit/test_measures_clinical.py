"""Blood pressure and HbA1c measures on hand-built observation facts."""

from __future__ import annotations

import pytest

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import GroupResult, compute_measure, measure_definition
from fhir_microsystems.measures._inputs import ObservationFact
from tests.unit.test_measures_support import context, obs, timelines


def run(measure: str, patients: list[str], observations: list[ObservationFact]) -> GroupResult:
    ctx = context([], patients)
    result = compute_measure(
        measure_definition(measure), ctx, timelines((), observations), {}, findings=Findings()
    )
    return result.groups[0]


def ids(group: GroupResult, code: str) -> set[str]:
    return {k.removeprefix("Patient/") for k in group.population(code).members}


BP = [
    # p1: high, then controlled: the latest counts
    obs("1a", "bp-panel", "2025-03-05T10:00:00Z", systolic=150, diastolic=95),
    obs("1b", "bp-panel", "2025-03-20T10:00:00Z", systolic=130, diastolic=85),
    # p2: standalone systolic and diastolic at the same instant (different offsets) pair up;
    # a later lone systolic is not a reading
    obs("2a", "systolic", "2025-03-10T10:00:00Z", patient="Patient/p2", systolic=135),
    obs("2b", "diastolic", "2025-03-10T12:00:00+02:00", patient="Patient/p2", diastolic=85),
    obs("2c", "systolic", "2025-03-25T10:00:00Z", patient="Patient/p2", systolic=120),
    # p3: controlled, then uncontrolled
    obs("3a", "bp-panel", "2025-03-15T10:00:00Z", patient="Patient/p3", systolic=120, diastolic=80),
    obs("3b", "bp-panel", "2025-03-28T10:00:00Z", patient="Patient/p3", systolic=145, diastolic=80),
    # p4: two readings at the latest instant: lowest systolic (138) and diastolic (85)
    obs("4a", "bp-panel", "2025-03-28T10:00:00Z", patient="Patient/p4", systolic=150, diastolic=85),
    obs("4b", "bp-panel", "2025-03-28T10:00:00Z", patient="Patient/p4", systolic=138, diastolic=92),
    # p5: February reading, and a preliminary one in March: no reading in the period
    obs("5a", "bp-panel", "2025-02-28T23:59:59Z", patient="Patient/p5", systolic=120, diastolic=70),
    obs(
        "5b",
        "bp-panel",
        "2025-03-10T10:00:00Z",
        patient="Patient/p5",
        systolic=120,
        diastolic=70,
        status="preliminary",
    ),
    # p6: panel without a (usable) systolic
    obs("6a", "bp-panel", "2025-03-10T10:00:00Z", patient="Patient/p6", diastolic=70),
    # p7: 140/80 is not below 140
    obs("7a", "bp-panel", "2025-03-10T10:00:00Z", patient="Patient/p7", systolic=140, diastolic=80),
    # p8: not in the patient group
    obs("8a", "bp-panel", "2025-03-10T10:00:00Z", patient="Patient/p8", systolic=120, diastolic=70),
]
GROUP = [f"Patient/p{i}" for i in range(1, 8)]


def test_bp_control() -> None:
    group = run("bp-control", GROUP, BP)
    assert ids(group, "initial-population") == {f"p{i}" for i in range(1, 8)}
    assert ids(group, "denominator") == {"p1", "p2", "p3", "p4", "p7"}
    assert ids(group, "numerator") == {"p1", "p2", "p4"}
    assert group.score == pytest.approx(3 / 5)


def test_hba1c_poor_control() -> None:
    observations = [
        obs("1a", "hba1c", "2025-03-05T10:00:00Z", value=8.0),
        obs("1b", "hba1c", "2025-03-20T10:00:00Z", value=9.5),
        obs("2a", "hba1c", "2025-03-20T10:00:00Z", patient="Patient/p2", value=9.0),
        obs("3a", "hba1c", "2025-03-10T10:00:00Z", patient="Patient/p3", value=10.0),
        obs("3b", "hba1c", "2025-03-25T10:00:00Z", patient="Patient/p3", value=7.0),
        obs(
            "4a", "hba1c", "2025-03-25T10:00:00Z", patient="Patient/p4", value=75.0, unit="mmol/mol"
        ),
        obs("5a", "hba1c", "2025-03-25T10:00:00Z", patient="Patient/p5", value=9.5),
        obs("5b", "hba1c", "2025-03-25T10:00:00Z", patient="Patient/p5", value=8.5),
    ]
    group = run("hba1c-poor-control", GROUP, observations)
    assert ids(group, "denominator") == {"p1", "p2", "p3", "p5"}
    assert ids(group, "numerator") == {"p1"}
    assert group.score == pytest.approx(0.25)


def test_empty_denominator_has_no_score() -> None:
    group = run("hba1c-poor-control", GROUP, BP)
    assert group.population("initial-population").count == 7
    assert group.population("denominator").count == 0
    assert group.score is None
