"""Encounters reduced to their records, by SQL over their NDJSON lines (DuckDB).

:class:`EncounterExtract` reads blocks of numbered lines and returns Arrow tables of
:data:`ENCOUNTER_SCHEMA` (an :class:`~fhir_microsystems.derive.EncounterRecord` a row, with
its start month and its patient's facts). The SQL (``encounters.sql``) reads every
Encounter that has nothing to report, which is nearly all of them; the rest (a line that is
not a well-formed Encounter, a reference that does not resolve, a datetime that does not
parse, too many participants, ...) are read by
:func:`~fhir_microsystems.derive.records.encounter_record`, which records their findings in
line order. Which of the two reads an encounter changes neither its record nor its findings:
the SQL takes only what it can prove has no finding, by resolving each distinct reference
with the same index and looking for one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from fhir_microsystems._duckdb import sql_steps
from fhir_microsystems._errors import FatalError
from fhir_microsystems._findings import Finding, Findings
from fhir_microsystems.derive.records import (
    MAX_ENCOUNTER_PARTICIPANTS,
    RECORD_FIELDS,
    RECORD_SCHEMA,
    EncounterRecord,
    encounter_record,
    most_specific_org,
    resolve_clinician,
)
from fhir_microsystems.periods import parse_fhir_datetime
from fhir_microsystems.sources._ndjson import LineBlock, read_line
from fhir_microsystems.sources._references import ReferenceIndex

from ._lines import connect, load_values, remembered

#: The month of records without a start (never in a window; counted as ``no-start``).
NO_START = "none"

#: A patient's facts carried on their encounters' rows: gender, birth date (FHIR text),
#: deceased, deceased dateTime (FHIR text).
PatientRow = tuple[str | None, str | None, bool, str | None]

#: The columns of an encounter month: an :class:`EncounterRecord` each row, ``month``, and
#: the facts of its patient (``patient_found`` false when the patient was not read).
ENCOUNTER_SCHEMA = pa.schema(
    [
        *RECORD_SCHEMA,
        ("month", pa.string()),
        ("patient_found", pa.bool_()),
        ("gender", pa.string()),
        ("birth_date", pa.string()),
        ("deceased", pa.bool_()),
        ("deceased_at", pa.string()),
    ]
)
PATIENT_FIELDS = ("gender", "birth_date", "deceased", "deceased_at")


def month_of(moment: datetime | None) -> str:
    """``YYYY-MM`` of an aware UTC datetime (:data:`NO_START` for None)."""
    return NO_START if moment is None else f"{moment.year:04d}-{moment.month:02d}"


def records_table(rows: Sequence[tuple[EncounterRecord, PatientRow | None]]) -> pa.Table:
    """Records, each with its patient's facts (None: not read), as an encounter month table."""
    columns: dict[str, list[Any]] = {
        name: [getattr(rec, name) for rec, _ in rows] for name in RECORD_FIELDS
    }
    columns["month"] = [month_of(rec.start) for rec, _ in rows]
    columns["patient_found"] = [patient is not None for _, patient in rows]
    for n, name in enumerate(PATIENT_FIELDS):
        columns[name] = [None if patient is None else patient[n] for _, patient in rows]
    return pa.Table.from_pydict(columns, schema=ENCOUNTER_SCHEMA)


def patient_row(index: ReferenceIndex, key: str | None) -> PatientRow | None:
    """The facts of an encounter's patient (None when the patient was not read)."""
    info = index.patients.get(key) if key else None
    if info is None:
        return None
    gender, birth = info.gender, info.birth_date  # any JSON value as read: text or nothing
    return (
        gender if isinstance(gender, str) else None,
        birth if isinstance(birth, str) else None,
        info.deceased,
        info.deceased_at,
    )


_SQL = sql_steps(__package__, "encounters.sql")

#: Resolved references (and contexts, patients) remembered up to this many each.
_MEMO = 200_000
#: The target type each role of a reference must have (clinicians: see resolve_clinician).
_EXPECTED = {"organization": "Organization", "location": "Location", "patient": "Patient"}


@contextmanager
def _probing(index: ReferenceIndex) -> Iterator[Findings]:
    """The findings resolving with ``index`` records, kept apart while it lasts."""
    kept, index.findings = index.findings, Findings()
    try:
        yield index.findings
    finally:
        index.findings = kept


class EncounterExtract:
    """One extract's DuckDB connection: batches of Encounter lines in, record tables out.

    ``index`` resolves references (its findings, and those of the encounters read in Python,
    go to ``findings``); ``where`` names a line in a finding about it (``file.ndjson:12``).
    """

    def __init__(
        self,
        index: ReferenceIndex,
        findings: Findings,
        *,
        where: Callable[[int], str] = lambda n: f"line {n}",
        max_participants: int = MAX_ENCOUNTER_PARTICIPANTS,
    ) -> None:
        self.index, self.findings, self.where = index, findings, where
        self.max_participants = max_participants
        self.con = connect()
        #: What Python found of distinct values, kept across batches (see :func:`remembered`).
        self._refs: dict[tuple[str, str], tuple[str | None, bool]] = {}
        self._contexts: dict[tuple[str | None, str | None], str | None] = {}
        self._patients: dict[str, PatientRow | None] = {}
        self._resolved = _SQL["resolved"].replace("{max_participants}", str(max_participants))
        #: Encounters read so far (lines that were resources; the rest are findings).
        self.resources = 0
        #: Of those, the ones read by ``encounter_record`` (they had something to report).
        self.in_python = 0

    def close(self) -> None:
        self.con.close()

    def batch(self, block: LineBlock, *, checked: bool = False) -> pa.Table:
        """The records of a block of lines (``checked``: resources already, as from a
        search), in line order; records the findings of the lines, in line order."""
        con = self.con
        load_values(con, block, _SQL["values"], "enc_values", trusted=checked)
        self._resolve_references()
        self._parse_times()
        con.execute(self._resolved)
        self._add_contexts()
        self._add_patients()
        fast = con.sql(_SQL["records"]).to_arrow_table()
        slow = pa.array(
            [
                n
                for (n,) in con.execute(
                    "SELECT lineno FROM enc_resolved WHERE NOT fast ORDER BY lineno"
                ).fetchall()
            ],
            pa.int64(),
        )
        con.execute("DROP TABLE enc_values; DROP TABLE enc_resolved")
        for name in ("enc_refs", "enc_times", "enc_contexts", "enc_patients"):
            con.unregister(name)
        if fast.num_rows + len(slow) != len(block):  # each line is read by one of the two
            raise FatalError(
                f"the Encounter extract read {fast.num_rows} + {len(slow)} of {len(block)} lines"
            )
        self.resources += fast.num_rows
        numbers, rows = self._in_python(block, slow)
        read = fast.drop_columns(["lineno"]).cast(ENCOUNTER_SCHEMA)
        if not rows:
            return read
        order = pc.sort_indices(pa.concat_arrays([fast["lineno"].combine_chunks(), numbers]))
        return pa.concat_tables([read, records_table(rows)]).take(order)

    def _in_python(
        self, block: LineBlock, lines: pa.Array
    ) -> tuple[pa.Array, list[tuple[EncounterRecord, PatientRow | None]]]:
        """Read ``lines`` (numbers, ascending) as the source and ``encounter_record`` do:
        a finding for each that is not a usable Encounter, a record for each that is."""
        numbers: list[int] = []
        rows: list[tuple[EncounterRecord, PatientRow | None]] = []
        if not len(lines):
            return pa.array(numbers, pa.int64()), rows
        indices = pc.index_in(lines, value_set=block.numbers).to_pylist()
        for number, index in zip(lines.to_pylist(), indices, strict=True):
            read = read_line(block.text(index), "Encounter", self.where, number)
            if isinstance(read, Finding):
                self.findings.add(read.kind, read.where, read.field, read.message)
                continue
            rec = encounter_record(
                read, self.index, self.findings, max_participants=self.max_participants
            )
            numbers.append(number)
            rows.append((rec, patient_row(self.index, rec.patient)))
        self.resources += len(rows)
        self.in_python += len(rows)
        return pa.array(numbers, pa.int64()), rows

    def _resolve_references(self) -> None:
        """Resolve the batch's references (distinct JSON values per role) in Python,
        noting whether resolving them records a finding."""
        wanted = self.con.execute(_SQL["references"]).fetchall()
        index = self.index
        with _probing(index) as probe:

            def resolve(role_ref: tuple[str, str]) -> tuple[str | None, bool]:
                role, text = role_ref
                before = probe.total
                reference = orjson.loads(text)
                if role == "clinician":
                    key, _ = resolve_clinician(reference, index, probe, where="", field="")
                else:
                    key = index.resolve(reference, where="", field="", expected=_EXPECTED[role])
                return key, probe.total == before

            found = remembered(self._refs, wanted, resolve, most=_MEMO)
        self.con.register(
            "enc_refs",
            pa.table(
                {
                    "role": pa.array([role for role, _ in wanted], pa.string()),
                    "ref": pa.array([ref for _, ref in wanted], pa.string()),
                    "key": pa.array([key for key, _ in found], pa.string()),
                    "clean": pa.array([clean for _, clean in found], pa.bool_()),
                }
            ),
        )

    def _parse_times(self) -> None:
        """Parse the batch's datetimes of uncommon forms (distinct values) in Python."""
        wanted = self.con.execute(_SQL["times"]).fetchall()
        parsed: list[datetime | None] = []
        for raw, upper in wanted:
            try:
                moment = parse_fhir_datetime(orjson.loads(raw), upper=upper).astimezone(UTC)
                parsed.append(moment.replace(tzinfo=None))  # UTC, as the SQL holds it
            except (ValueError, TypeError):
                parsed.append(None)
        self.con.register(
            "enc_times",
            pa.table(
                {
                    "raw": pa.array([raw for raw, _ in wanted], pa.string()),
                    "upper": pa.array([upper for _, upper in wanted], pa.bool_()),
                    "moment": pa.array(parsed, pa.timestamp("us")),
                }
            ),
        )

    def _add_contexts(self) -> None:
        """The most specific organisation of the batch's serviceProvider and Location pairs."""
        wanted = self.con.execute(_SQL["contexts"]).fetchall()
        index = self.index

        def context(pair: tuple[str | None, str | None]) -> str | None:
            provider, location = pair
            return most_specific_org(
                provider, index.location_org(location) if location else None, index
            )

        contexts = remembered(self._contexts, wanted, context, most=_MEMO)
        self.con.register(
            "enc_contexts",
            pa.table(
                {
                    "service_provider": pa.array([p for p, _ in wanted], pa.string()),
                    "location": pa.array([loc for _, loc in wanted], pa.string()),
                    "context": pa.array(contexts, pa.string()),
                }
            ),
        )

    def _add_patients(self) -> None:
        """The facts of the batch's patients (``found`` false when the patient was not read)."""
        wanted = [key for (key,) in self.con.execute(_SQL["patients"]).fetchall()]
        facts = remembered(
            self._patients, wanted, lambda key: patient_row(self.index, key), most=_MEMO
        )
        self.con.register(
            "enc_patients",
            pa.table(
                {
                    "patient": pa.array(wanted, pa.string()),
                    "found": pa.array([f is not None for f in facts], pa.bool_()),
                    "gender": pa.array([f[0] if f else None for f in facts], pa.string()),
                    "birth_date": pa.array([f[1] if f else None for f in facts], pa.string()),
                    "deceased": pa.array([f[2] if f else None for f in facts], pa.bool_()),
                    "deceased_at": pa.array([f[3] if f else None for f in facts], pa.string()),
                }
            ),
        )


__all__ = [
    "ENCOUNTER_SCHEMA",
    "NO_START",
    "PATIENT_FIELDS",
    "RECORD_FIELDS",
    "EncounterExtract",
    "PatientRow",
    "month_of",
    "patient_row",
    "records_table",
]
