"""Built-in performance differences between microsystems (so outcome measures differ)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .hospital import Hospital


@dataclass(frozen=True, slots=True)
class Effect:
    """How one microsystem shifts its patients' outcomes."""

    #: Added to systolic blood pressure (mm[Hg]) of its patients.
    systolic: float = 0.0
    #: Added to HbA1c (%) of its patients.
    hba1c: float = 0.0
    #: Multiplies length of stay.
    los: float = 1.0
    #: Multiplies the readmission rate.
    readmission: float = 1.0


def draw_effects(rng: random.Random, hospital: Hospital) -> dict[str, Effect]:
    """One :class:`Effect` per microsystem key."""
    effects: dict[str, Effect] = {}
    for micro in hospital.microsystems:
        effects[micro.key] = Effect(
            systolic=round(rng.uniform(-6.0, 6.0), 1),
            hba1c=round(rng.uniform(-0.5, 0.5), 2),
            los=round(rng.uniform(0.85, 1.15), 2),
            readmission=round(rng.uniform(0.75, 1.3), 2),
        )
    return effects
