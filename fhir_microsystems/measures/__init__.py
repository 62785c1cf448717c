"""Performance measures of clinical microsystems: SQL over cases tables of compact facts.

Each measure is one module (``ed_length_of_stay.py`` ...): its definition and the SQL of its
cases; ``_sql.py`` scores every measure the same way. See ``docs/measures.md`` for the
definitions; ``profiles/Measure-<id>.json`` ships them.
"""

from ._catalog import (
    DEFAULT_CANONICAL_BASE,
    MEASURE_VERSION,
    GroupDefinition,
    MeasureDefinition,
    PopulationDefinition,
    Target,
)
from ._compute import compute_batch, compute_measure, compute_measures
from ._encounters import ENCOUNTER_MEASURES, qualifying_counts
from ._inputs import (
    EncounterCounts,
    EncounterFact,
    MicrosystemContext,
    ObservationCounts,
    ObservationFact,
    PatientFact,
    PatientTimelines,
    Timelines,
    observation_counts,
    observation_facts_of,
    observation_table,
    observations_in,
)
from ._measure import Measure
from ._registry import MEASURES, MEASURES_BY_ID, REGISTRY, SHIPPED, measure_definition
from ._resource import measure_resource, shipped_measures
from ._result import GroupResult, MeasureResult, PopulationCount, Stratum, age_band
from ._tables import (
    FactsBuilder,
    FactTables,
    encounter_counts,
    fact_tables,
    joined_fact_tables,
    own_encounter_counts,
)

__all__ = [
    "DEFAULT_CANONICAL_BASE",
    "ENCOUNTER_MEASURES",
    "MEASURES",
    "MEASURES_BY_ID",
    "MEASURE_VERSION",
    "REGISTRY",
    "SHIPPED",
    "EncounterCounts",
    "EncounterFact",
    "FactTables",
    "FactsBuilder",
    "GroupDefinition",
    "GroupResult",
    "Measure",
    "MeasureDefinition",
    "MeasureResult",
    "MicrosystemContext",
    "ObservationCounts",
    "ObservationFact",
    "PatientFact",
    "PatientTimelines",
    "PopulationCount",
    "PopulationDefinition",
    "Stratum",
    "Target",
    "Timelines",
    "age_band",
    "compute_batch",
    "compute_measure",
    "compute_measures",
    "encounter_counts",
    "fact_tables",
    "joined_fact_tables",
    "measure_definition",
    "measure_resource",
    "observation_counts",
    "observation_facts_of",
    "observation_table",
    "observations_in",
    "own_encounter_counts",
    "qualifying_counts",
    "shipped_measures",
]
