"""Property test: every report agrees with a simple recomputation from its evidence Lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import fmean, median
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import (
    EncounterFact,
    ObservationFact,
    compute_measures,
    measure_definition,
)
from fhir_microsystems.reports import build_measure_report, listed_keys
from tests.unit.test_measures_support import context, timelines

ORIGIN = datetime(2025, 2, 1, tzinfo=UTC)
PATIENTS = [f"Patient/p{i}" for i in range(5)]
PRACTITIONERS = ["Practitioner/a", "Practitioner/b", "Practitioner/x"]


@st.composite
def encounters(draw: st.DrawFn) -> list[tuple[EncounterFact, bool]]:
    out = []
    for i in range(draw(st.integers(0, 30))):
        # a coarse 12-hour grid makes ties and exact window edges frequent
        start = ORIGIN + timedelta(hours=12 * draw(st.integers(50, 130)))
        hours = draw(st.sampled_from([-12, 12, 24, 36, 72, 180, 720, 9000]))
        out.append(
            (
                EncounterFact(
                    key=f"Encounter/e{i}",
                    patient=draw(st.sampled_from(PATIENTS)),
                    cls=draw(st.sampled_from(["EMER", "IMP", "AMB"])),
                    status=draw(st.sampled_from(["finished", "finished", "cancelled"])),
                    start=None if draw(st.integers(0, 9)) == 0 else start,
                    end=None if draw(st.integers(0, 9)) == 0 else start + timedelta(hours=hours),
                    practitioners=tuple(draw(st.lists(st.sampled_from(PRACTITIONERS), max_size=2))),
                    discharge_disposition=draw(st.sampled_from([None, "home", "exp"])),
                ),
                draw(st.booleans()),
            )
        )
    return out


@st.composite
def observations(draw: st.DrawFn) -> list[ObservationFact]:
    out = []
    for i in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["bp-panel", "systolic", "diastolic", "hba1c"]))
        out.append(
            ObservationFact(
                key=f"Observation/o{i}",
                patient=draw(st.sampled_from(PATIENTS)),
                kind=kind,
                status="final",
                effective=ORIGIN + timedelta(days=draw(st.integers(0, 80))),
                systolic=draw(st.sampled_from([120.0, 139.0, 140.0, 160.0])),
                diastolic=draw(st.sampled_from([70.0, 89.0, 90.0])),
                value=draw(st.sampled_from([6.5, 9.0, 9.1, 12.0])),
                unit="%",
            )
        )
    return out


def score(report: dict[str, Any], group: int = 0) -> float | None:
    value = report["group"][group].get("measureScore")
    return None if value is None else float(value["value"])


def check_proportion(report: dict[str, Any]) -> None:
    den = listed_keys(report, "denominator")
    excluded = (
        set(listed_keys(report, "denominator-exclusion"))
        if "readmission" in report["measure"]
        else set()
    )
    numerator = listed_keys(report, "numerator")
    assert set(numerator) <= set(den) - excluded
    eligible = len(den) - len(excluded)
    if eligible == 0:
        assert score(report) is None
    else:
        assert score(report) == round(len(numerator) / eligible, 4)


def check_length_of_stay(report: dict[str, Any], facts: dict[str, EncounterFact]) -> None:
    defn = measure_definition(report["measure"].split("/")[-1].split("|")[0])
    unit = timedelta(minutes=1) if defn.unit == "min" else timedelta(days=1)
    limit = timedelta(days=7) if defn.unit == "min" else timedelta(days=365)
    start, end = ORIGIN + timedelta(days=28), ORIGIN + timedelta(days=59)
    expected = []
    for key in listed_keys(report, "measure-observation"):
        fact = facts[key]
        assert fact.start is not None and fact.end is not None
        assert start <= fact.end < end and fact.status == "finished"
        assert timedelta(0) <= fact.end - fact.start <= limit
        expected.append((fact.end - fact.start) / unit)
    got = score(report)
    if not expected:
        assert got is None
    else:
        assert got is not None
        assert abs(got - median(expected)) <= 0.5 * 10**-defn.precision + 1e-9


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(encounters(), observations())
def test_reports_agree_with_their_evidence(
    drawn: list[tuple[EncounterFact, bool]], obs: list[ObservationFact]
) -> None:
    facts = {e.key: e for e, _ in drawn}
    attributed = [e for e, keep in drawn if keep]
    period = (ORIGIN + timedelta(days=28), ORIGIN + timedelta(days=59))  # March 2025
    ctx = context(attributed, PATIENTS[:4], period=period)
    results = compute_measures(ctx, timelines(facts.values(), obs), {}, findings=Findings())
    for result in results:
        report = build_measure_report(result, ctx, generated_at=ORIGIN, evidence=True)
        for group in report["group"]:
            for population in group["population"]:
                listed = listed_keys(report, population["id"])
                assert population["count"] == len(listed) == len(set(listed))
        if result.measure in (
            "readmission-30d",
            "ed-return-72h",
            "bp-control",
            "hba1c-poor-control",
        ):
            check_proportion(report)
        elif result.measure.endswith("length-of-stay"):
            check_length_of_stay(report, facts)
        elif result.measure == "continuity-of-care":
            entries = next(c for c in report["contained"] if c["id"] == "measure-observation")
            values = [e["extension"][0]["valueQuantity"]["value"] for e in entries.get("entry", ())]
            assert all(0 <= v <= 1 for v in values)
            expected = round(fmean(values), 4) if values else None
            assert score(report) == expected
        else:
            encounters_listed = listed_keys(report, "encounters-initial-population")
            patients_listed = listed_keys(report, "patients-initial-population")
            assert sorted({str(facts[k].patient) for k in encounters_listed}) == patients_listed


@settings(max_examples=40, deadline=None)
@given(encounters())
def test_readmission_numerator_matches_brute_force(drawn: list[tuple[EncounterFact, bool]]) -> None:
    facts = [e for e, _ in drawn]
    attributed = [e for e, keep in drawn if keep]
    period = (ORIGIN + timedelta(days=28), ORIGIN + timedelta(days=59))
    ctx = context(attributed, PATIENTS, period=period)
    result = next(
        r
        for r in compute_measures(ctx, timelines(facts), {}, findings=Findings())
        if r.measure == "readmission-30d"
    )
    group = result.groups[0]
    expected = set()
    for index in attributed:
        if not (
            index.cls == "IMP"
            and index.status == "finished"
            and index.end is not None
            and period[0] <= index.end < period[1]
            and index.discharge_disposition != "exp"
        ):
            continue
        for later in facts:
            if (
                later.key != index.key
                and later.patient == index.patient
                and later.cls == "IMP"
                and later.status == "finished"
                and later.start is not None
                and timedelta(0) < later.start - index.end <= timedelta(days=30)
            ):
                expected.add(index.key)
    assert set(group.population("numerator").members) == expected
