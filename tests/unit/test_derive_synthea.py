"""Real Synthea output: one practitioner per encounter, conditional references.

Uses the excerpt in ``tests/data/synthea-excerpt`` (``FHIR_MICROSYSTEMS_SYNTHEA_DIR`` names
another directory, such as the full development set); expected figures are counted from the
raw files.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fhir_microsystems.derive import derive
from fhir_microsystems.derive.fhir_resources import careteam_resource, patient_group_resource
from fhir_microsystems.derive.validation import (
    validate_microsystem_careteam,
    validate_patient_group,
)
from fhir_microsystems.sources import NdjsonSource, ReferenceIndex
from tests.support.datasets import SYNTHEA_DIR, encounter_clinicians, line_count

DATASET = SYNTHEA_DIR
ENCOUNTERS = line_count(DATASET, "Encounter")


@pytest.fixture(scope="module")
def source() -> NdjsonSource:
    return NdjsonSource(DATASET)


def test_every_encounter_is_accounted_for_over_the_whole_history(source: NdjsonSource) -> None:
    index = ReferenceIndex.build(source)
    result = derive(
        source,
        index,
        start=datetime(1920, 1, 1, tzinfo=UTC),
        end=datetime(2022, 1, 1, tzinfo=UTC),
        period="year",
    )
    assert len(result.encounters) == ENCOUNTERS
    assert result.encounters_attributed + result.unattributed.total() == ENCOUNTERS
    assert result.encounters_attributed == ENCOUNTERS  # every encounter has a resolvable clinician
    assert source.findings.counts["unresolved-reference"] == 0
    # one clinician per encounter and per organisation: microsystems of one clinician each
    for items in result.microsystems.values():
        for item in items:
            assert len(item.members) >= 1
            assert item.organization is not None and item.name
    people = {p for rec in result.encounters.values() for p in rec.participants}
    assert len(people) == len(encounter_clinicians(DATASET))


def test_default_window_and_fhir_output(source: NdjsonSource) -> None:
    result = derive(source, ReferenceIndex.build(source))
    assert [p.label for p in result.periods][-1] == "2021-07"
    assert len(result.periods) == 12
    assert result.encounters_attributed + result.unattributed.total() == ENCOUNTERS
    assert result.encounters_attributed > 0
    for items in result.microsystems.values():
        for item in items:
            assert validate_microsystem_careteam(careteam_resource(item)) == []
            assert validate_patient_group(patient_group_resource(item)) == []
