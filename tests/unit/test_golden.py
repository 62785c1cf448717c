"""The golden trees: each case's input, run in process, gives its stored outputs exactly
(after the canonical sort of ``tests/golden/_golden.py``). A deliberate change of outputs is
stored with ``python -m tests.golden.regenerate`` (see ``tests/golden/README.md``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden._golden import CASES, expected, first_difference, run_case


@pytest.mark.parametrize("case", CASES)
def test_outputs_equal_the_golden_tree(case: str, tmp_path: Path) -> None:
    difference = first_difference(case, run_case(case, tmp_path / "out"), expected(case))
    if difference is not None:
        pytest.fail(
            f"{difference}\nIf this change is a deliberate fix, run "
            "`python -m tests.golden.regenerate` and say why in the commit.",
            pytrace=False,
        )
