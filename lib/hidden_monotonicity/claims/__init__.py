"""Claims as data (issue 28): every quantitative sentence of the prose with the evidence that backs it.

``python -m hidden_monotonicity claims`` checks :data:`CLAIMS` against the files in ``figures/`` (and the other files
the code wrote) and exits 1 when a claim does not hold; ``make test`` runs it on the committed outputs and
``make reproduce`` at its end. :mod:`.engine` holds the machinery, :mod:`.registry` the claims.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .engine import (FAILS, HOLDS, MISSING, NO_EVIDENCE, Claim, Evidence, EvidenceError, Expectation, Outputs, about,
                     at_least, at_most, between, cell, check_claims, computed, count, equals, format_report, rank)
from .registry import CLAIMS

__all__ = ["CLAIMS", "Claim", "Evidence", "EvidenceError", "Expectation", "Outputs", "HOLDS", "FAILS", "MISSING",
           "NO_EVIDENCE", "about", "at_least", "at_most", "between", "cell", "check_claims", "computed", "count",
           "equals", "format_report", "rank", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hidden_monotonicity claims [--root DIR] [--all] [--only PREFIX]``: 0 when every claim holds."""
    from ..outputs import repository_root

    parser = argparse.ArgumentParser(prog="python -m hidden_monotonicity claims",
                                     description="Check every quantitative claim of the README, the notebooks and "
                                     "COURSE.md against the outputs the code wrote (figures/ and friends).")
    parser.add_argument("--root", type=Path, default=None, help="repository root holding the prose and figures/ "
                        "(default: this checkout)")
    parser.add_argument("--all", action="store_true", help="print every claim, not only those that do not hold")
    parser.add_argument("--only", default=None, help="check only the claims whose id starts with this prefix")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    root = args.root or repository_root()
    claims = [c for c in CLAIMS if args.only is None or c.id.startswith(args.only)]
    if not claims:
        print(f"python -m hidden_monotonicity claims: error: no claim id starts with {args.only!r}", file=sys.stderr)
        return 2
    table = check_claims(claims, root)
    print(format_report(table, verbose=args.all))
    return 0 if (table["verdict"] == HOLDS).all() else 1
