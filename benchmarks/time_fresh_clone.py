"""Time the README's commands from a fresh clone of the committed tree, and record the result for the README to quote.

``make test`` is judged by how long it takes a newcomer: a ``git clone`` then the command, the install included. This
script does exactly that in a temporary folder (``git clone`` of this repository's ``HEAD``; uncommitted changes are
not in it, and the script says so), runs ``bash .ci/run`` (what CI runs: the browser test required, then ``make test``)
or ``make reproduce``, and writes one line per command into ``benchmarks/fresh_clone.txt``::

    python benchmarks/time_fresh_clone.py test        # about a quarter of an hour on the 2-core development machine
    python benchmarks/time_fresh_clone.py reproduce   # about half an hour

The README's sentences about these times are claims (``python -m hidden_monotonicity claims``) read from that file, so
a new measurement that the prose does not follow fails ``make test``. The clone's full log is kept next to the record
(``benchmarks/fresh_clone_<command>.log`` is not committed: see .gitignore) until the next run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "fresh_clone.txt"
COMMANDS = {"test": ["bash", ".ci/run"], "reproduce": ["make", "reproduce"]}


def minutes_seconds(seconds: float) -> str:
    """``882.4`` -> ``"14 min 42 s"`` (the README's way of writing a duration)."""
    whole = int(round(seconds))
    return f"{whole // 60} min {whole % 60} s"


def record_line(command: str, commit: str, day: str, total: float, log: str) -> str:
    """The record of one run: the commit, the day, the whole wall time and, for ``test``, pytest's own summary."""
    line = f"{command}: commit {commit}, {day}, {minutes_seconds(total)} in all (clone, install and run)"
    if command == "reproduce":
        changes = re.findall(r"figures/: (\d+ created, \d+ changed, \d+ unchanged)", log)
        if changes:  # what the rerun changed in the committed figures/
            line += f"; figures/: {changes[-1]}"
    if command == "test":
        summary = re.findall(r"=+ (\d+) passed(?:, \d+ \w+)* in ([0-9.]+)s", log)
        if not summary:
            raise SystemExit("no pytest summary line ('N passed ... in S s') in the log: nothing recorded")
        passed, seconds = summary[-1]
        line += f"; pytest: {int(passed):,} passed in {minutes_seconds(float(seconds))}"
    return line


def write_record(path: Path, command: str, line: str) -> None:
    """Replace ``command``'s line of the record (the other command's line stays)."""
    kept = [old for old in (path.read_text(encoding="utf-8").splitlines() if path.exists() else [])
            if old and not old.startswith(f"{command}:")]
    path.write_text("\n".join(sorted([*kept, line])) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    if subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip():
        print(f"note: uncommitted changes are not measured; the clone is of commit {commit}", file=sys.stderr)
    folder = Path(tempfile.mkdtemp(prefix="fresh-clone-"))
    log_path = ROOT / "benchmarks" / f"fresh_clone_{args.command}.log"
    try:
        started = time.perf_counter()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder / "repo")], check=True)
        environment = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
        with log_path.open("w", encoding="utf-8") as log:
            done = subprocess.run(COMMANDS[args.command], cwd=folder / "repo", stdout=log, stderr=subprocess.STDOUT,
                                  env=environment)
        total = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if done.returncode != 0:
        print(text[-3000:])
        print(f"{' '.join(COMMANDS[args.command])} failed (exit {done.returncode}) in the fresh clone of {commit}: "
              f"nothing recorded (log: {log_path})", file=sys.stderr)
        return 1
    line = record_line(args.command, commit, dt.date.today().isoformat(), total, text)
    write_record(args.record, args.command, line)
    print(f"{line}\n(on {platform.machine()}, {os.cpu_count()} CPU cores; recorded in {args.record})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
