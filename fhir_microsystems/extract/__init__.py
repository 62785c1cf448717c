"""The extract stage's projections: input resources reduced to typed columns by SQL."""

from .conditions import ConditionExtract, PatientSpells
from .encounters import (
    ENCOUNTER_SCHEMA,
    NO_START,
    EncounterExtract,
    PatientRow,
    month_of,
    patient_row,
    records_table,
)
from .observations import (
    FACT_SCHEMA,
    ObservationExtract,
    Resolver,
    literal_key,
)

__all__ = [
    "ENCOUNTER_SCHEMA",
    "FACT_SCHEMA",
    "NO_START",
    "ConditionExtract",
    "EncounterExtract",
    "ObservationExtract",
    "PatientRow",
    "PatientSpells",
    "Resolver",
    "literal_key",
    "month_of",
    "patient_row",
    "records_table",
]
