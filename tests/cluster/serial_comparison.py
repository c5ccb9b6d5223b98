"""The last step of the on-demand cluster checks (``slurm_check.sh``, ``network_check.sh``): the same smoke evaluation
serially, then the four result files of the two runs compared byte for byte; prints one line and returns the exit
status (0: both complete and identical, 1: not)."""

from __future__ import annotations

import time
from pathlib import Path

import hidden_monotonicity as hm

COMPARED = ("scores.csv", "table.csv", "selection.csv", "table_defaults.csv")


def compare_with_serial(check: str, work: Path, folder: Path, result, seconds: float, how: str) -> int:
    """``result``: the distributed run's, written to ``folder`` in ``seconds`` (``how``: through what, for the line)."""
    started = time.perf_counter()
    serial = hm.evaluate("smoke", work / "serial", progress=False)
    serial_seconds = time.perf_counter() - started
    same = {name: (folder / name).read_bytes() == (work / "serial" / name).read_bytes() for name in COMPARED}
    runs = result.metadata["runs"][-1]
    print(f"{check}: smoke profile through {how}: complete={result.complete}, {runs['units_computed']} units, "
          f"{seconds:.1f} s; serial {serial_seconds:.1f} s; "
          + ", ".join(f"{name} {'identical' if ok else 'DIFFERS'}" for name, ok in same.items()))
    return 0 if result.complete and serial.complete and all(same.values()) else 1
