"""fhir-microsystems: measure clinical microsystems from FHIR R4 data."""

__version__ = "0.1.0"
