"""Observations reduced to what the measures need, by SQL over their NDJSON lines (DuckDB).

:class:`ObservationExtract` reads blocks of numbered lines
(:class:`~fhir_microsystems.sources.LineBlock`) and returns Arrow tables of facts (the
columns of :data:`FACT_SCHEMA`); the rules are the SQL of ``observations.sql``. Problems
are counted as findings (``Observation/<id>`` and the field), never guessed, in line order:

- ``ignored-status``: entered-in-error and cancelled Observations are dropped;
- ``missing-field`` / ``unresolved-reference``: no subject, or one that is not a Patient
  (the Observation is dropped);
- ``missing-field`` / ``invalid-datetime``: no ``effective[x]``, or not a FHIR dateTime
  (the Observation is dropped: it belongs to no period);
- ``missing-code``: no ``code.coding[].code`` (the record is kept as kind ``other``);
- ``missing-value``: a needed value (or panel component) is absent or not a number;
- ``unexpected-unit``: blood pressure not in ``mm[Hg]``, HbA1c not in ``%`` (UCUM ``code``,
  or the ``unit`` text when there is no code; ``mmHg`` is accepted as the text of mm[Hg]);
- ``inexact-value``: a quantity with a comparator (``>14 %``) is not used as a value.

A line the SQL does not read as a well-formed Observation (not UTF-8, invalid JSON, another
type, no usable id, status or coding) goes through the source's own check,
:func:`~fhir_microsystems.sources.resource_problem`, so its finding is the one every other
reader records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from fhir_microsystems._duckdb import sql_steps
from fhir_microsystems._findings import Finding, Findings
from fhir_microsystems.periods import parse_fhir_datetime
from fhir_microsystems.sources._ndjson import LineBlock, read_line

from ._lines import connect, load_values

#: Maps a reference element (``subject``) to a ``Type/id`` key, or None.
Resolver = Callable[[Any], str | None]

#: The facts' columns (``effective`` in UTC; ``month`` its ``YYYY-MM``).
FACT_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("patient", pa.string()),
        ("kind", pa.string()),
        ("status", pa.string()),
        ("effective", pa.timestamp("us", tz="UTC")),
        ("systolic", pa.float64()),
        ("diastolic", pa.float64()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("coded", pa.bool_()),
        ("complete", pa.bool_()),
        ("month", pa.string()),
    ]
)

_REFERENCE_RE = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$"
)


def literal_key(reference: Any) -> str | None:
    """``Type/id`` of a literal relative or absolute reference element, else None."""
    ref = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(ref, str) or "?" in ref or ref.startswith("#"):
        return None
    match = _REFERENCE_RE.search(ref)
    return f"{match['type']}/{match['id']}" if match else None


_SQL = sql_steps(__package__, "observations.sql")


#: Subjects resolved in Python are remembered up to this many (then forgotten at once).
_SUBJECT_MEMO = 1_000_000


class ObservationExtract:
    """One extract's DuckDB connection: batches of lines in, fact tables out.

    ``where`` names a line in a finding about it (``file.ndjson:12``); ``resolve`` maps a
    subject element to a key (the source's reference index).
    """

    def __init__(
        self,
        findings: Findings,
        *,
        resolve: Resolver = literal_key,
        where: Callable[[int], str] = lambda n: f"line {n}",
    ) -> None:
        self.findings = findings
        self.resolve = resolve
        self.where = where
        self.con = connect(_SQL["macros"])
        self._subjects = 0
        #: Observations read so far (lines that were resources; the rest are findings).
        self.resources = 0

    def close(self) -> None:
        self.con.close()

    def batch(self, block: LineBlock, *, checked: bool = False) -> pa.Table:
        """The facts of a block of lines (``checked``: they are resources already, as from a
        search); records their findings in line order."""
        con = self.con
        line_findings: list[tuple[int, int, str, str, str, str]] = []
        load_values(con, block, _SQL["values"], "obs_values", trusted=checked)
        rescued = self._rescue(block, checked, line_findings)
        if rescued is not None:
            load_values(con, rescued, _SQL["values"], "obs_values", trusted=True, append=True)
        counted = con.execute("SELECT count(*) FROM obs_values").fetchone()
        self.resources += counted[0] if counted else 0
        self._resolve_subjects()
        self._parse_times()
        con.execute(_SQL["resolved"])
        facts = con.sql(_SQL["facts"]).to_arrow_table()
        found = con.execute(_SQL["findings"]).fetchall()
        for row in sorted(line_findings + [tuple(r) for r in found]):
            self.findings.add(row[2], row[3], row[4], row[5])
        con.execute("DROP TABLE obs_values; DROP TABLE obs_resolved")
        con.execute("DELETE FROM obs_times")
        return facts.cast(FACT_SCHEMA)

    def _rescue(
        self,
        block: LineBlock,
        checked: bool,
        found: list[tuple[int, int, str, str, str, str]],
    ) -> LineBlock | None:
        """Check in Python the lines the SQL did not screen in (not UTF-8, not JSON, not an
        Observation with an id, status and coding): a finding each, or (when the source's
        check passes them) their text as orjson writes it, to be read again."""
        if checked:
            return None
        query = "SELECT lineno FROM obs_values WHERE NOT screened ORDER BY lineno"
        unscreened = pa.array([n for (n,) in self.con.execute(query).fetchall()], pa.int64())
        self.con.execute("DELETE FROM obs_values WHERE NOT screened")
        if not len(unscreened):
            return None
        indices = pc.index_in(unscreened, value_set=block.numbers).to_pylist()
        numbers: list[int] = []
        again: list[bytes] = []
        for number, index in zip(unscreened.to_pylist(), indices, strict=True):
            read = read_line(block.text(index), "Observation", self.where, number)
            if isinstance(read, Finding):
                found.append((number, 0, read.kind, read.where, read.field, read.message))
                continue
            numbers.append(number)
            again.append(orjson.dumps(read))
        if not numbers:
            return None
        return LineBlock(pa.array(numbers, pa.int64()), pa.array(again, pa.large_binary()))

    def _resolve_subjects(self) -> None:
        """Resolve the batch's new subject elements (distinct JSON values) in Python."""
        new = [s for (s,) in self.con.execute(_SQL["subjects"]).fetchall()]
        if not new:
            return
        if self._subjects + len(new) > _SUBJECT_MEMO:
            self.con.execute("DELETE FROM obs_subjects")
            self._subjects = 0
            new = [s for (s,) in self.con.execute(_SQL["subjects"]).fetchall()]
        keys = []
        for text in new:
            key = self.resolve(orjson.loads(text))
            keys.append(key if key is not None and key.startswith("Patient/") else None)
        self.con.register("obs_new_subjects", pa.table({"subject": new, "patient": keys}))
        self.con.execute("INSERT INTO obs_subjects SELECT * FROM obs_new_subjects")
        self.con.unregister("obs_new_subjects")
        self._subjects += len(new)

    def _parse_times(self) -> None:
        """Parse the batch's datetimes of uncommon forms (distinct values) in Python."""
        raws = [r for (r,) in self.con.execute(_SQL["times"]).fetchall()]
        if not raws:
            return
        parsed: list[datetime | None] = []
        for raw in raws:
            try:
                moment = parse_fhir_datetime(orjson.loads(raw)).astimezone(UTC)
                parsed.append(moment.replace(tzinfo=None))  # UTC, as the SQL holds it
            except (ValueError, TypeError):
                parsed.append(None)
        table = pa.table({"raw_time": raws, "effective": pa.array(parsed, pa.timestamp("us"))})
        self.con.register("obs_new_times", table)
        self.con.execute("INSERT INTO obs_times SELECT * FROM obs_new_times")
        self.con.unregister("obs_new_times")


__all__ = [
    "FACT_SCHEMA",
    "ObservationExtract",
    "Resolver",
    "literal_key",
]
