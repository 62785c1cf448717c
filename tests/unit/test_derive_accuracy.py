"""Accuracy: the ARI implementation, and a floor on a small generated hospital."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_microsystems.derive import DerivationConfig, derive
from fhir_microsystems.derive.accuracy import (
    GroundTruth,
    active_practitioners,
    adjusted_rand_index,
    ari_for,
    by_service_provider,
    detected_events,
    f1,
    truth_events_in,
)
from fhir_microsystems.sources import NdjsonSource, ReferenceIndex

synth = pytest.importorskip("fhir_microsystems.synth.generator")
synth_config = pytest.importorskip("fhir_microsystems.synth.config")


def test_ari_known_values() -> None:
    # scikit-learn's documented example: 4/7
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7)
    assert adjusted_rand_index([0, 0, 1, 2], [0, 0, 1, 1]) == pytest.approx(4 / 7)
    # by hand: index 2, expected 6*3/15 = 1.2, max 4.5 -> 0.8 / 3.3
    assert adjusted_rand_index("aaabbb", "xxyyzz") == pytest.approx(0.8 / 3.3)
    assert adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    assert adjusted_rand_index([0, 0, 0, 0], [0, 1, 2, 3]) == 0.0
    with pytest.raises(ValueError):
        adjusted_rand_index([0], [0, 1])


def test_f1() -> None:
    assert f1({1, 2, 3}, {2, 3, 4, 5}) == pytest.approx((2 / 3, 1 / 2, 4 / 7))
    assert f1(set(), set()) == (1.0, 1.0, 1.0)


def test_ari_floor_on_a_generated_hospital(tmp_path: Path) -> None:
    synth.generate(
        tmp_path,
        seed=11,
        patients=1200,
        months=4,
        config=synth_config.SynthConfig(noise=0.1),
    )
    source = NdjsonSource(tmp_path)
    result = derive(source, ReferenceIndex.build(source), config=DerivationConfig())
    truth = GroundTruth.from_json(json.loads((tmp_path / "ground-truth.json").read_text()))
    records = list(result.encounters.values())
    months = [p for p in result.periods if p.label in truth.core]
    assert len(months) == 4
    for period in months:
        active = active_practitioners(records, period)
        core = truth.core[period.label]
        derived = ari_for(core, result.primary_microsystem(period.label), active)
        baseline = ari_for(core, by_service_provider(records, period), active)
        assert derived >= 0.9, period.label
        assert derived > baseline, period.label
    labels = [p.label for p in months]
    found = {e for e in detected_events(result, truth) if e[0] in labels[1:]}
    truth_events = truth_events_in(truth, labels)
    if truth_events:
        assert f1(found, truth_events)[1] >= 0.5  # recall of joins / leaves
    assert result.encounters_attributed + result.unattributed.total() == len(records)
