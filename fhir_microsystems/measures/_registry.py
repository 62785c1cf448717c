"""The shipped measures, in catalog order.

Adding a measure is one module (a :class:`~._measure.Measure` subclass: its definition and
SQL), one line in :data:`SHIPPED` and its ``profiles/Measure-<id>.json``.
"""

from __future__ import annotations

from ._catalog import MeasureDefinition
from ._measure import Measure
from .bp_control import BpControl
from .continuity_of_care import ContinuityOfCare
from .ed_length_of_stay import EdLengthOfStay
from .ed_return_72h import EdReturn72h
from .hba1c_poor_control import Hba1cPoorControl
from .inpatient_length_of_stay import InpatientLengthOfStay
from .readmission_30d import Readmission30d
from .volume import Volume

#: The measures every report computes, in catalog order.
SHIPPED: tuple[type[Measure], ...] = (
    EdLengthOfStay,
    InpatientLengthOfStay,
    Readmission30d,
    EdReturn72h,
    BpControl,
    Hba1cPoorControl,
    ContinuityOfCare,
    Volume,
)
REGISTRY: dict[str, type[Measure]] = {m.definition.id: m for m in SHIPPED}
MEASURES: tuple[MeasureDefinition, ...] = tuple(m.definition for m in SHIPPED)
MEASURES_BY_ID = {m.id: m for m in MEASURES}


def measure_definition(measure_id: str) -> MeasureDefinition:
    """The definition of ``measure_id``; raises ``KeyError`` for an unknown id."""
    return MEASURES_BY_ID[measure_id]


__all__ = ["MEASURES", "MEASURES_BY_ID", "REGISTRY", "SHIPPED", "measure_definition"]
