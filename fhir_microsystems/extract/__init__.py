"""The extract stage's projections: input resources reduced to typed columns by SQL."""

from .observations import (
    FACT_SCHEMA,
    ObservationExtract,
    Resolver,
    literal_key,
)

__all__ = [
    "FACT_SCHEMA",
    "ObservationExtract",
    "Resolver",
    "literal_key",
]
