"""Rewrite the expected outputs: ``python -m tests.golden.regenerate [CASE ...]``.

Only when a difference is a deliberate fix: the script prints what changed (a diff stat per
file, ``--diff`` for the full diff), and the commit that stores the new outputs says why.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from ._golden import CASES, CASES_DIR, diff_lines, expected, run_case


def regenerate(case: str, *, show_diff: bool) -> int:
    """Run ``case``, store its canonical outputs; return how many files changed."""
    target = CASES_DIR / case / "expected"
    old = expected(case) if target.is_dir() else {}
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        new = run_case(case, Path(tmp) / "out")
    changed = 0
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name, ""), new.get(name, "")
        if before == after:
            continue
        changed += 1
        lines = list(diff_lines(case, name, before, after))
        added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
        removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
        state = "new" if name not in old else "removed" if name not in new else "changed"
        print(f"{case}/expected/{name}: {state}, +{added} -{removed} (indented lines)")
        if show_diff:
            sys.stdout.writelines(lines)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name, text in new.items():
        (target / name).write_text(text)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden.regenerate", description=__doc__)
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"default: all of {CASES}")
    parser.add_argument("--diff", action="store_true", help="print the full diff of each file")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}: the cases are {list(CASES)}")
    total = sum(regenerate(case, show_diff=args.diff) for case in args.cases or CASES)
    print(f"{total} file(s) changed" if total else "no change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
