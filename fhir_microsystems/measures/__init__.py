"""Performance measures of clinical microsystems, computed from compact facts.

See ``docs/measures.md`` for the definitions; ``profiles/Measure-<id>.json`` ships them.
"""

from ._catalog import (
    DEFAULT_CANONICAL_BASE,
    MEASURE_VERSION,
    MEASURES,
    MEASURES_BY_ID,
    GroupDefinition,
    MeasureDefinition,
    PopulationDefinition,
    Target,
    measure_definition,
)
from ._compute import compute_measure, compute_measures
from ._encounters import ENCOUNTER_MEASURES, qualifying_measures
from ._inputs import (
    EncounterFact,
    MicrosystemContext,
    ObservationFact,
    PatientFact,
    PatientTimelines,
    Timelines,
)
from ._resource import measure_resource, shipped_measures
from ._result import Case, GroupResult, MeasureResult, PopulationCount, Stratum, age_band

__all__ = [
    "DEFAULT_CANONICAL_BASE",
    "ENCOUNTER_MEASURES",
    "MEASURES",
    "MEASURES_BY_ID",
    "MEASURE_VERSION",
    "Case",
    "EncounterFact",
    "GroupDefinition",
    "GroupResult",
    "MeasureDefinition",
    "MeasureResult",
    "MicrosystemContext",
    "ObservationFact",
    "PatientFact",
    "PatientTimelines",
    "PopulationCount",
    "PopulationDefinition",
    "Stratum",
    "Target",
    "Timelines",
    "age_band",
    "compute_measure",
    "compute_measures",
    "measure_definition",
    "measure_resource",
    "qualifying_measures",
    "shipped_measures",
]
