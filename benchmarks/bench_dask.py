"""Wall time of an evaluation serially vs on a local Dask cluster (issue 31), side by side in one run.

Runs ``python -m hidden_monotonicity evaluate`` twice on the same cut of a profile - once in one process, once with
``--dask-local N`` - each into a fresh folder, times each command as a user sees it (interpreter start, worker start,
planning and finalising included), checks that ``scores.csv`` and ``table.csv`` are identical, and prints the ratio.
The full default profile takes about 17 minutes serially on the 2-core development machine, so the default
cut is one model and 96 images (32 validation + 64 test)::

    python benchmarks/bench_dask.py                                   # --profile default --models benchmark_vgg
    python benchmarks/bench_dask.py --max-images 8 --methods saliency,gradcam --workers 2   # seconds
    python benchmarks/bench_dask.py --models "" --max-images 0        # the whole default profile (half an hour)

Record the printed lines in benchmarks/RESULTS.md ("Dask: serial vs --dask-local").
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _evaluate(out: Path, arguments: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lib"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hidden_monotonicity", "evaluate", "--out", str(out), "--no-progress",
                           *arguments], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"evaluate {' '.join(arguments)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--models", default="benchmark_vgg", help="comma-separated models of the profile ('' : all)")
    parser.add_argument("--methods", default=None, help="comma-separated rows of the profile (default: all)")
    parser.add_argument("--max-images", type=int, default=96,
                        help="validation + test images (default 96: 32 + 64; 0: every image of the profile)")
    parser.add_argument("--workers", type=int, default=2, help="local Dask worker processes (default 2)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the two output folders under this folder")
    args = parser.parse_args(argv)
    cut = ["--profile", args.profile] + (["--max-images", str(args.max_images)] if args.max_images else [])
    cut += ["--models", args.models] if args.models else []
    cut += ["--methods", args.methods] if args.methods else []
    folder = Path(tempfile.mkdtemp(prefix="bench-dask-")) if args.keep is None else args.keep
    try:
        serial = _evaluate(folder / "serial", cut)
        dask = _evaluate(folder / "dask", [*cut, "--dask-local", str(args.workers)])
        same = {name: (folder / "serial" / name).read_bytes() == (folder / "dask" / name).read_bytes()
                for name in ("scores.csv", "table.csv")}
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"cut: {' '.join(cut)}; machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
          f"python {platform.python_version()}")
    print(f"serial: {serial:.1f} s; --dask-local {args.workers}: {dask:.1f} s; "
          f"ratio serial / dask: {serial / dask:.2f}x")
    print("identical to the serial run: " + ", ".join(f"{n} {'yes' if ok else 'NO'}" for n, ok in same.items()))
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
