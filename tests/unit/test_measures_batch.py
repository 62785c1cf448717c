"""Contexts computed in one batch (one set of fact tables) keep to their own facts."""

from __future__ import annotations

from datetime import UTC, datetime

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import compute_batch
from tests.unit.test_measures_support import context, enc, obs, person, timelines

APRIL = (datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC))


def test_two_contexts_in_one_batch_see_only_their_own_encounters_and_period() -> None:
    march_stay = enc("e1", "2025-03-10T10:00:00Z", "2025-03-10T11:00:00Z", patient="Patient/p1")
    no_start = enc("e2", None, "2025-03-12T11:00:00Z", patient="Patient/p1")
    april_stay = enc("e3", "2025-04-02T08:00:00Z", "2025-04-02T10:00:00Z", patient="Patient/p2")
    march = context([march_stay, no_start], ["Patient/p1"])
    april = context([april_stay, march_stay], ["Patient/p1"], period=APRIL)
    reading = obs("o1", "bp-panel", "2025-03-10T10:30:00Z", systolic=130, diastolic=80)
    lines = timelines([march_stay, no_start, april_stay], [reading])
    patients = {
        "Patient/p1": person("Patient/p1", gender="female", born="1950-01-01"),
        "Patient/p2": person("Patient/p2", gender="male", born="2000-01-01"),
    }
    findings = Findings()

    first, second = (
        {r.measure: r for r in results}
        for results in compute_batch([march, april], lines, patients, findings=findings)
    )

    los = first["ed-length-of-stay"].groups[0]
    assert los.score == 60.0
    assert los.observations == (("Encounter/e1", 60.0),)
    assert los.population("initial-population").members == ("Encounter/e1", "Encounter/e2")
    assert [(s.stratifier, s.value) for s in los.strata] == [
        ("age-band", "65+"),
        ("gender", "female"),
    ]
    assert second["ed-length-of-stay"].groups[0].observations == (("Encounter/e3", 120.0),)
    assert first["bp-control"].score == 1.0
    assert second["bp-control"].score is None  # the March reading is outside April
    assert second["bp-control"].groups[0].population("initial-population").count == 1
    assert first["volume"].groups[0].population("initial-population").members == ("Encounter/e1",)
    assert second["volume"].groups[0].population("initial-population").members == ("Encounter/e3",)
    assert [(f.kind, f.where) for f in findings.items] == [("missing-field", "Encounter/e2")]
