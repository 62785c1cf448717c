"""Conditions reduced to cohort spells: SQL (DuckDB) keeps the lines coded in a cohort.

:class:`ConditionExtract` reads blocks of numbered lines. Most Conditions are coded in no
cohort: they give no spell and no finding, and the SQL (``conditions.sql``) drops them
without a Python object. The rest, and the lines the SQL does not screen in, are read as
the source reads them and passed to
:func:`~fhir_microsystems.derive.cohorts.condition_spells`, which records their findings in
line order.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from fhir_microsystems._duckdb import sql_steps
from fhir_microsystems._findings import Finding, Findings
from fhir_microsystems.derive.cohorts import ConditionSpell, code_cohorts, condition_spells
from fhir_microsystems.sources._ndjson import LineBlock, read_line
from fhir_microsystems.sources._references import ReferenceIndex

from ._lines import connect, load_values

_SQL = sql_steps(__package__, "conditions.sql")

#: Codes looked up are remembered up to this many (then forgotten at once).
_MEMO = 100_000
#: One patient's spells from one Condition.
PatientSpells = tuple[str, list[ConditionSpell]]


class ConditionExtract:
    """One extract's DuckDB connection: batches of Condition lines in, spells out.

    ``index`` resolves subjects (its findings, and the Conditions' own, go to ``findings``);
    ``where`` names a line in a finding about it (``file.ndjson:12``).
    """

    def __init__(
        self,
        index: ReferenceIndex,
        findings: Findings,
        *,
        where: Callable[[int], str] = lambda n: f"line {n}",
    ) -> None:
        self.index, self.findings, self.where = index, findings, where
        self.con = connect(_SQL["tables"])
        #: Conditions read so far (lines that were resources; the rest are findings).
        self.resources = 0
        #: Of those, the ones read in Python (coded in a cohort).
        self.in_python = 0

    def close(self) -> None:
        self.con.close()

    def batch(self, block: LineBlock, *, checked: bool = False) -> list[PatientSpells]:
        """The spells of a block of lines (``checked``: resources already, as from a
        search), in line order; records the findings of the lines, in line order."""
        con = self.con
        load_values(con, block, _SQL["values"], "cond_values", trusted=checked)
        self._look_up_codes()
        [(screened,)] = con.execute("SELECT count(*) FROM cond_values WHERE screened").fetchall()
        wanted = con.execute(_SQL["wanted"]).fetchall()
        con.execute("DROP TABLE cond_values")
        self.resources += screened
        found: list[PatientSpells] = []
        if not wanted:
            return found
        numbers = [n for n, _ in wanted]
        indices = pc.index_in(pa.array(numbers, pa.int64()), value_set=block.numbers)
        for (number, was_screened), index in zip(wanted, indices.to_pylist(), strict=True):
            read = read_line(block.text(index), "Condition", self.where, number)
            if isinstance(read, Finding):
                self.findings.add(read.kind, read.where, read.field, read.message)
                continue
            self.resources += not was_screened  # a Condition after all
            self.in_python += 1
            patient, spells = condition_spells(read, self.index, self.findings)
            if patient is not None and spells:
                found.append((patient, spells))
        return found

    def _look_up_codes(self) -> None:
        """Look up the batch's new codes (distinct JSON values) in the cohorts' ValueSets."""
        new = [code for (code,) in self.con.execute(_SQL["codes"]).fetchall()]
        [(held,)] = self.con.execute("SELECT count(*) FROM cond_codes").fetchall()
        if held + len(new) > _MEMO:  # forget them all at once (then look this batch's up)
            self.con.execute("DELETE FROM cond_codes")
            new = [code for (code,) in self.con.execute(_SQL["codes"]).fetchall()]
        if not new:
            return
        in_cohort = [bool(code_cohorts(orjson.loads(code))) for code in new]
        self.con.register("cond_new", pa.table({"code": new, "in_cohort": in_cohort}))
        self.con.execute("INSERT INTO cond_codes SELECT * FROM cond_new")
        self.con.unregister("cond_new")


__all__ = ["ConditionExtract", "PatientSpells"]
