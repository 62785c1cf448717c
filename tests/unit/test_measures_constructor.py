"""frozen_constructor builds the same objects as the dataclass's own __init__."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from fhir_microsystems.measures import Case, EncounterFact, ObservationFact
from fhir_microsystems.measures._constructor import frozen_constructor

WHEN = datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_builds_equal_frozen_hashable_objects_with_the_same_defaults() -> None:
    make = frozen_constructor(Case)
    pops = frozenset({"initial-population"})
    assert make("Patient/a", "Patient/a", pops) == Case("Patient/a", "Patient/a", pops)
    built = make("Encounter/e", None, pops, 1.5, encounter_class="IMP", pending=True)
    expected = Case("Encounter/e", None, pops, 1.5, encounter_class="IMP", pending=True)
    assert built == expected
    assert hash(built) == hash(expected)
    assert type(built) is Case
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.key = "x"  # type: ignore[misc]


def test_every_field_in_order() -> None:
    row: list[Any] = ["Observation/o", "Patient/p", "bp-panel", "final", WHEN, None, 120.0, 80.0]
    row += [None, None, True, False]
    assert frozen_constructor(ObservationFact)(*row) == ObservationFact(*row)
    encounter = ("Encounter/e", "Patient/p", "EMER", "finished", WHEN, None, ("P/1",), "exp")
    assert frozen_constructor(EncounterFact)(*encounter) == EncounterFact(*encounter)


def test_argument_errors_as_the_init_gives_them() -> None:
    with pytest.raises(TypeError):
        frozen_constructor(Case)("Patient/a")
    with pytest.raises(TypeError):
        frozen_constructor(Case)("a", "b", frozenset(), None, None, False, "extra")


@dataclass(frozen=True, slots=True)
class _Checked:
    value: int

    def __post_init__(self) -> None:  # pragma: no cover - never built here
        raise ValueError


@dataclass(frozen=True, slots=True)
class _Factory:
    items: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _NoSlots:
    value: int


@pytest.mark.parametrize("cls", [_Checked, _Factory, _NoSlots])
def test_refuses_classes_whose_init_does_more(cls: type) -> None:
    with pytest.raises(TypeError):
        frozen_constructor(cls)
