"""The extract stage's projections: input resources reduced to typed columns by SQL."""

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
    "EncounterExtract",
    "ObservationExtract",
    "PatientRow",
    "Resolver",
    "literal_key",
    "month_of",
    "patient_row",
    "records_table",
]
