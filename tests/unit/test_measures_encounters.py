"""Encounter measures on hand-built cases with hand-computed answers."""

from __future__ import annotations

import pytest

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import GroupResult, compute_measure, measure_definition
from fhir_microsystems.measures._inputs import EncounterFact, MicrosystemContext, PatientFact
from tests.unit.test_measures_support import at, context, enc, person, timelines


def run(
    measure: str,
    ctx: MicrosystemContext,
    everything: list[EncounterFact] | None = None,
    patients: dict[str, PatientFact] | None = None,
    findings: Findings | None = None,
) -> GroupResult:
    result = compute_measure(
        measure_definition(measure),
        ctx,
        timelines(everything if everything is not None else ctx.encounters),
        patients or {},
        findings=findings if findings is not None else Findings(),
    )
    return result.groups[0]


def members(group: GroupResult, code: str) -> set[str]:
    return {
        k.removeprefix("Encounter/").removeprefix("Patient/")
        for k in group.population(code).members
    }


ED_CASES = [
    enc("e1", "2025-03-02T10:00:00Z", "2025-03-02T12:30:00Z"),  # 150 min
    enc("e1", "2025-03-02T10:00:00Z", "2025-03-02T12:30:00Z"),  # duplicate, counted once
    enc("e2", "2025-03-05T08:00:00Z", "2025-03-05T09:00:00Z"),  # 60 min
    enc("e3", "2025-03-31T21:00:00Z", "2025-04-01T00:30:00+02:00"),  # 22:30Z March: 90 min
    enc("e4", "2025-02-28T20:00:00Z", "2025-03-01T00:30:00+02:00"),  # 22:30Z February
    enc("e5", "2025-03-06T08:00:00Z", None, status="in-progress"),  # open
    enc("e6", None, "2025-03-07T08:00:00Z"),  # no start
    enc("e7", "2025-03-10T12:00:00Z", "2025-03-10T11:00:00Z"),  # negative
    enc("e8", "2025-03-01T00:00:00Z", "2025-03-09T00:00:00Z"),  # 8 days
    enc("e9", "2025-03-02T00:00:00Z", "2025-03-09T00:00:00Z"),  # exactly 7 days: 10080
    enc("e10", "2025-03-02T00:00:00Z", "2025-03-03T00:00:00Z", cls="IMP"),
    enc("e11", "2025-03-02T00:00:00Z", "2025-03-02T01:00:00Z", status="cancelled"),
    enc("e12", "2025-03-31T23:00:00Z", "2025-04-01T00:00:00Z"),  # end == period end
    enc("e13", "2025-02-28T23:00:00Z", "2025-03-01T00:00:00Z"),  # end == period start: 60
]


def test_ed_length_of_stay_populations_and_median() -> None:
    findings = Findings()
    group = run("ed-length-of-stay", context(ED_CASES), findings=findings)
    assert members(group, "initial-population") == {"e1", "e2", "e3", "e6", "e7", "e8", "e9", "e13"}
    assert members(group, "measure-population") == {"e1", "e2", "e3", "e7", "e8", "e9", "e13"}
    assert members(group, "measure-population-exclusion") == {"e7", "e8"}
    assert dict(group.observations) == {
        "Encounter/e1": 150.0,
        "Encounter/e2": 60.0,
        "Encounter/e3": 90.0,
        "Encounter/e9": 10080.0,
        "Encounter/e13": 60.0,
    }
    assert group.score == pytest.approx(90.0)  # 60, 60, 90, 150, 10080
    assert [(f.kind, f.where, f.field) for f in findings] == [
        ("missing-field", "Encounter/e6", "Encounter.period.start")
    ]


def test_inpatient_length_of_stay_even_count_and_long_stay_exclusion() -> None:
    cases = [
        enc("i1", "2025-02-27T12:00:00Z", "2025-03-01T12:00:00Z", cls="IMP"),  # 2 d
        enc("i2", "2025-03-10T06:00:00Z", "2025-03-13T06:00:00Z", cls="IMP"),  # 3 d
        enc("i3", "2024-02-01T00:00:00Z", "2025-03-10T00:00:00Z", cls="IMP"),  # 403 d
        enc("i4", "2025-03-10T06:00:00Z", "2025-03-10T18:00:00Z"),  # EMER
    ]
    group = run("inpatient-length-of-stay", context(cases))
    assert members(group, "measure-population-exclusion") == {"i3"}
    assert group.score == pytest.approx(2.5)


def test_length_of_stay_without_encounters_has_no_score() -> None:
    group = run("ed-length-of-stay", context([]))
    assert group.score is None
    assert group.population("initial-population").count == 0


READMISSION = [
    # p1: discharged 10 March, readmitted 5 April elsewhere (across the period boundary)
    enc("r1", "2025-03-08T00:00:00Z", "2025-03-10T12:00:00Z", cls="IMP"),
    # p2: next IMP one second after the 30-day window; an EMER visit in between
    enc("r3", "2025-03-12T00:00:00Z", "2025-03-15T00:00:00Z", cls="IMP", patient="Patient/p2"),
    # p3: expired
    enc(
        "r5",
        "2025-03-18T00:00:00Z",
        "2025-03-20T00:00:00Z",
        cls="IMP",
        patient="Patient/p3",
        disposition="exp",
    ),
    # p4: died before discharge
    enc("r6", "2025-03-20T00:00:00Z", "2025-03-25T10:00:00Z", cls="IMP", patient="Patient/p4"),
    # p5: next IMP starts exactly at discharge (not after); a cancelled one later
    enc("r7", "2025-03-26T00:00:00Z", "2025-03-28T00:00:00Z", cls="IMP", patient="Patient/p5"),
    # p6: died long after; readmitted next day (r9, itself in the denominator)
    enc("r8", "2025-03-01T00:00:00Z", "2025-03-05T00:00:00Z", cls="IMP", patient="Patient/p6"),
    enc("r9", "2025-03-06T00:00:00Z", "2025-03-08T00:00:00Z", cls="IMP", patient="Patient/p6"),
    # ended in February: not in the denominator
    enc("r10", "2025-02-20T00:00:00Z", "2025-02-25T00:00:00Z", cls="IMP"),
]
ELSEWHERE = [
    enc("r2", "2025-04-05T00:00:00Z", "2025-04-07T00:00:00Z", cls="IMP"),
    enc("r4", "2025-04-14T00:00:01Z", "2025-04-16T00:00:00Z", cls="IMP", patient="Patient/p2"),
    enc("x1", "2025-03-20T00:00:00Z", "2025-03-20T05:00:00Z", cls="EMER", patient="Patient/p2"),
    enc("r11", "2025-03-28T00:00:00Z", "2025-03-29T00:00:00Z", cls="IMP", patient="Patient/p5"),
    enc("r12", "2025-04-01T00:00:00Z", None, cls="IMP", patient="Patient/p5", status="cancelled"),
]
PEOPLE = {
    "Patient/p4": person("Patient/p4", deceased_at="2025-03-25T09:00:00Z"),
    "Patient/p6": person("Patient/p6", deceased_at="2025-06-01T00:00:00Z"),
}


def test_readmission_numerator_exclusions_and_boundary() -> None:
    group = run("readmission-30d", context(READMISSION), READMISSION + ELSEWHERE, PEOPLE)
    assert members(group, "denominator") == {"r1", "r3", "r5", "r6", "r7", "r8", "r9"}
    assert members(group, "denominator-exclusion") == {"r5", "r6"}
    assert members(group, "numerator") == {"r1", "r8"}
    assert group.score == pytest.approx(2 / 5)
    assert group.pending == ()


def test_readmission_pending_when_data_cannot_see_30_days() -> None:
    ctx = context(READMISSION, data_end=at("2025-04-10T00:00:00Z"))
    group = run("readmission-30d", ctx, READMISSION + ELSEWHERE, PEOPLE)
    # r3 (window to 14 April) and r7 (to 27 April) are unresolved; r9's window closed 7 April
    assert set(group.pending) == {"Encounter/r3", "Encounter/r7"}


def test_ed_return_within_72_hours() -> None:
    cases = [
        enc("a1", "2025-03-10T08:00:00Z", "2025-03-10T10:00:00Z"),
        enc("a2", "2025-03-13T10:00:00Z", "2025-03-13T12:00:00Z"),  # exactly 72 h after a1
        enc("a3", "2025-03-31T22:00:00Z", "2025-03-31T23:00:00Z", patient="Patient/p2"),
        enc("a4", "2025-03-19T17:00:00Z", "2025-03-20T00:00:00+05:00", patient="Patient/p3"),
    ]
    elsewhere = [
        enc("b2", "2025-04-03T23:00:01Z", "2025-04-04T01:00:00Z", patient="Patient/p2"),
        enc("b3", "2025-03-21T18:00:00Z", "2025-03-21T19:00:00Z", patient="Patient/p3"),
    ]
    group = run("ed-return-72h", context(cases), cases + elsewhere)
    assert members(group, "denominator") == {"a1", "a2", "a3", "a4"}
    assert members(group, "numerator") == {"a1", "a4"}
    assert group.score == pytest.approx(0.5)


def test_continuity_of_care() -> None:
    a, b, c, x = (f"Practitioner/{n}" for n in "abcx")
    cases = [
        enc("c1", "2025-03-02T10:00:00Z", "2025-03-02T11:00:00Z", cls="AMB", practitioners=(a,)),
        enc("c2", "2025-03-09T10:00:00Z", None, cls="AMB", practitioners=(a, b)),
        enc("c3", "2025-03-16T10:00:00Z", None, cls="AMB", practitioners=(b, a)),
        enc("c4", "2025-02-16T10:00:00Z", None, cls="AMB", practitioners=(c,)),  # February
        enc("d1", "2025-03-02T10:00:00Z", None, cls="AMB", patient="Patient/p2"),
        enc("d2", "2025-03-03T10:00:00Z", None, cls="AMB", patient="Patient/p2"),
        enc("f1", "2025-03-04T10:00:00Z", None, cls="AMB", patient="Patient/p3"),
        enc("g1", "2025-03-04T10:00:00Z", None, patient="Patient/p4", practitioners=(x, b)),
        enc("g2", "2025-03-05T10:00:00Z", None, patient="Patient/p4", practitioners=(x,)),
        enc("h1", "2025-03-06T10:00:00Z", None, patient="Patient/p5", practitioners=(x, c)),
        enc("h2", "2025-03-07T10:00:00Z", None, patient="Patient/p5", practitioners=(c,)),
        enc(
            "h3",
            "2025-03-08T10:00:00Z",
            None,
            patient="Patient/p5",
            status="cancelled",
            practitioners=(a,),
        ),
    ]
    group = run("continuity-of-care", context(cases))
    assert members(group, "initial-population") == {"p1", "p2", "p3", "p4", "p5"}
    assert members(group, "measure-population") == {"p1", "p2", "p5"}
    assert dict(group.observations) == pytest.approx(
        {"Patient/p1": 1 / 3, "Patient/p2": 1.0, "Patient/p5": 1.0}
    )
    assert group.score == pytest.approx((1 / 3 + 1 + 1) / 3)


def test_volume_counts_encounters_and_distinct_patients_with_class_strata() -> None:
    cases = [
        enc("v1", "2025-03-02T10:00:00Z", None, cls="AMB"),
        enc("v2", "2025-03-03T10:00:00Z", None, cls="EMER"),
        enc("v3", "2025-03-04T10:00:00Z", None, cls="AMB", patient="Patient/p2"),
        enc("v4", "2025-03-31T23:30:00-01:00", None, cls="AMB"),  # April 00:30Z
        enc("v5", "2025-03-05T10:00:00Z", None, cls=None, status="entered-in-error"),
    ]
    result = compute_measure(
        measure_definition("volume"), context(cases), timelines(cases), {}, findings=Findings()
    )
    encounters, patients = result.groups
    assert encounters.population("initial-population").count == 3
    assert patients.population("initial-population").members == ("Patient/p1", "Patient/p2")
    by_class = {
        s.value: s.populations[0].count
        for s in encounters.strata
        if s.stratifier == "encounter-class"
    }
    assert by_class == {"AMB": 2, "EMER": 1}
    assert result.score is None


def test_strata_by_age_band_and_gender() -> None:
    cases = [
        enc("s1", "2025-03-02T10:00:00Z", "2025-03-02T11:00:00Z"),  # 60 min, p1
        enc("s2", "2025-03-02T10:00:00Z", "2025-03-02T12:00:00Z", patient="Patient/p2"),  # 120
        enc("s3", "2025-03-02T10:00:00Z", "2025-03-02T13:00:00Z", patient="Patient/p3"),  # 180
    ]
    people = {
        "Patient/p1": person("Patient/p1", gender="female", born="2007-03-01"),  # 18
        "Patient/p2": person("Patient/p2", gender="female", born="2007-03-02"),  # 17
    }
    group = run("ed-length-of-stay", context(cases), patients=people)
    strata = {(s.stratifier, s.value): s.score for s in group.strata}
    assert strata == {
        ("age-band", "0-17"): 120.0,
        ("age-band", "18-44"): 60.0,
        ("age-band", "unknown"): 180.0,
        ("gender", "female"): 90.0,
        ("gender", "unknown"): 180.0,
    }
