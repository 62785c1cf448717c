"""Encounter month tables read back as records (the inverse of ``records_table``)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from fhir_microsystems.derive import EncounterRecord
from fhir_microsystems.derive.records import RECORD_FIELDS, EncounterRows, column_values
from fhir_microsystems.extract.encounters import PATIENT_FIELDS, PatientRow


def records_of(table: pa.Table) -> Iterator[tuple[EncounterRecord, PatientRow | None]]:
    """The rows of an encounter month table as records with their patients' facts."""
    if table.num_rows == 0:
        return
    records = EncounterRows(table.select(RECORD_FIELDS)).records()
    patients = zip(*(column_values(table, name) for name in PATIENT_FIELDS), strict=True)
    found = table["patient_found"].to_pylist()
    for record, patient, known in zip(records, patients, found, strict=True):
        yield record, patient if known else None
