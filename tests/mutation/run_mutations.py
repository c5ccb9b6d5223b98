"""Mutation check of the test suite, run on demand (not part of ``make test``).

Each mutation replaces one exact snippet of the library by a wrong one, in a temporary copy of ``lib/``, and runs the
tests that must notice it; a mutation is *caught* when they fail. A snippet that is not found exactly once is
reported as ``NOT APPLICABLE``: the code was refactored, and the mutation list must follow it.

    .venv/bin/python tests/mutation/run_mutations.py            # every mutation
    .venv/bin/python tests/mutation/run_mutations.py --list     # what is checked
    .venv/bin/python tests/mutation/run_mutations.py --only ε   # mutations whose description contains "ε"
    .venv/bin/python tests/mutation/run_mutations.py --baseline # first check that the tests pass unmutated

The temporary copy is a folder with ``lib/`` copied and every other top-level entry of the repository linked, so
that ``repository_root()`` (checkpoints, data) still resolves; the tests run there with ``PYTHONPATH=<copy>/lib``.
Exit status: 0 when every mutation is caught, 1 otherwise (a survivor or a NOT APPLICABLE mutation).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path("lib") / "hidden_monotonicity"


@dataclass(frozen=True)
class Mutation:
    file: str  # relative to lib/hidden_monotonicity
    old: str
    new: str
    tests: tuple[str, ...]
    description: str


REFERENCE_RESIDUAL = "tests/decomposition/test_reference_residual.py"
STABILISATION = "tests/decomposition/test_stabilization_values.py"
STREAM_VALUES = "tests/methods/test_split_stream_values.py"
SALIENCY_PLOTS = "tests/notebooks/test_plots_saliency.py"
LRP_EPSILON = "tests/methods/test_splitlrp_epsilon.py"
DIRECTIONS = "tests/evaluation/test_metric_directions.py"

MUTATIONS: tuple[Mutation, ...] = (
    # ---- the table of issue 19 (all survived before) ----
    Mutation("decomposition/rules.py",
             "self.shifts = len(coefficients) > 1",
             "self.shifts = False",
             (REFERENCE_RESIDUAL,), "residual Add no longer applies the α-shift"),
    Mutation("methods/split.py",
             'activation = record.a_pos if stream == "pos" else record.a_neg',
             "activation = record.a_pos",
             (STREAM_VALUES, SALIENCY_PLOTS), 'SplitCAM/SplitGrad stream="neg" reads a⁺'),
    Mutation("methods/split.py",
             'sensitivity = getattr(record, f"delta_{stream}_{output}")',
             'sensitivity = getattr(record, f"delta_{stream}_g")',
             (STREAM_VALUES, SALIENCY_PLOTS), 'output="h" returns the g sensitivities'),
    Mutation("decomposition/rules.py",
             "    r_pos = rel.pos / (outputs_raw.pos + epsilon)\n    r_neg = rel.neg / (outputs_raw.neg + epsilon)\n",
             "    r_pos = torch.where(outputs_raw.pos > 0, rel.pos / outputs_raw.pos, 0.0)\n"
             "    r_neg = torch.where(outputs_raw.neg > 0, rel.neg / outputs_raw.neg, 0.0)\n",
             (LRP_EPSILON,), "SplitLRP's ε dropped from the affine ε-rule (0/0 guarded)"),
    Mutation("decomposition/stabilize.py",
             "scaled = torch.add(magnitude, excess, alpha=theta)",
             "scaled = torch.add(magnitude, excess, alpha=0.05)",
             (STABILISATION,), '"scale" stabilisation with θ hard-coded to 0.05'),
    Mutation("decomposition/stabilize.py",
             "return torch.where(larger_stream > threshold, scaled, magnitude + excess)",
             "return scaled",
             (STABILISATION,), '"threshold" ignores Θ'),
    Mutation("evaluation/metrics.py",
             'MetricOutput(self.name, self.category, HIGHER, f"sum(a)',
             'MetricOutput(self.name, self.category, LOWER, f"sum(a)',
             (DIRECTIONS,), "Completeness ↑ direction flipped"),
    Mutation("evaluation/metrics.py",
             'MetricOutput(f"{self.name}Error", self.category, LOWER,',
             'MetricOutput(f"{self.name}Error", self.category, HIGHER,',
             (DIRECTIONS,), "CompletenessError ↓ direction flipped"),
    # ---- caught before issue 19 (kept so that a regression is noticed) ----
    Mutation("decomposition/network.py",
             'factor = 1.0 - 2.0 * float(alpha) if alpha_mode == "iterative" else 1.0',
             'factor = 1.0 - float(alpha) if alpha_mode == "iterative" else 1.0',
             (REFERENCE_RESIDUAL,), "α-shift factor 1 − α instead of 1 − 2α"),
    Mutation("decomposition/network.py",
             "(shift_output or p.node.name != self._output_node)",
             "(p.node.name != self._output_node)",
             (REFERENCE_RESIDUAL,), "output layer's shift dropped (shift_output ignored)"),
    Mutation("decomposition/network.py",
             "return [None if s is None else s.scaled(factor) for s in input_sens]",
             "return [None if s is None or source == self.nodes[0].node.name else s.scaled(factor) "
             "for source, s in zip(p.inputs, input_sens)]",
             (REFERENCE_RESIDUAL,), "first layer's shift skipped"),
    # ---- further mutations of what the new tests pin ----
    Mutation("decomposition/network.py",
             "return Streams(x, x.clone())",
             "return Streams(x, x.abs())",
             (REFERENCE_RESIDUAL,), 'input_split="positive" splits like "center"'),
    Mutation("decomposition/rules.py",
             "s_out = s_out + abs(coefficient) * (s + abs(threshold) + torch.where(mask, 0.0, -u))",
             "s_out = s_out + abs(coefficient) * (s + torch.where(mask, 0.0, -u))",
             (REFERENCE_RESIDUAL,), "ReLU-family piece forgets the split of its threshold (ReLU6/Hardtanh)"),
    Mutation("decomposition/rules.py",
             "if self.original is not None:  # the sum of pieces",
             "if False:  # the sum of pieces",
             (REFERENCE_RESIDUAL,), "ReLU6/Hardtanh output d from the sum of pieces (round-off picks other max-pool winners at ties)"),
    Mutation("decomposition/rules.py",
             'kind = "cat"\n    stabilizes = False',
             'kind = "cat"\n    stabilizes = True',
             (STABILISATION,), "concatenation stabilised too"),
    Mutation("decomposition/rules.py",
             "    shifts = True\n    fuses_stabilization = True",
             "    shifts = False\n    fuses_stabilization = True",
             ("tests/notebooks/test_plots_stability.py",), "ReLU family no longer applies the α-shift"),
    Mutation("plots/saliency.py",
             '"stream": stream, "output": output}))',
             '"stream": "pos", "output": output}))',
             (SALIENCY_PLOTS,), "stream_maps shows the + stream in the − rows"),
    Mutation("models/weights.py",
             "        model.load_state_dict(state)\n",
             "        pass\n",
             ("tests/test_checkpoint_accuracy.py",), "benchmark checkpoint weights never loaded"),
    Mutation("evaluation/metrics.py",
             'if self.baseline == "zero":\n            return np.zeros_like(x)',
             'if self.baseline == "zero":\n            return np.full_like(x, 0.05)',
             ("tests/evaluation/test_smoke_profile.py",), "Completeness baseline x0 = 0.05 instead of 0"),
)


def prepare_copy(root: Path) -> Path:
    """``root`` with ``lib/`` copied from the repository and every other top-level entry linked."""
    shutil.copytree(REPO / "lib", root / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for entry in REPO.iterdir():
        if entry.name not in ("lib", ".git"):
            (root / entry.name).symlink_to(entry)
    return root


def run_tests(root: Path, tests: tuple[str, ...], timeout: int) -> tuple[int, str]:
    environment = {**os.environ, "PYTHONPATH": str(root / "lib"), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "timeout"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, lines[-1] if lines else done.stderr.strip().splitlines()[-1:]


def check_the_copy_is_imported(root: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(root / "lib")}
    found = subprocess.run([sys.executable, "-c", "import hidden_monotonicity as hm; print(hm.__file__)"], cwd=root,
                           env=environment, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).is_relative_to(root / "lib"):
        raise SystemExit(f"the tests would import {found}, not the mutated copy under {root / 'lib'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the mutations whose description contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--baseline", action="store_true", help="first run every involved test file unmutated")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per mutation (default 900)")
    args = parser.parse_args(argv)
    mutations = [m for m in MUTATIONS if args.only is None or args.only in m.description]
    if args.list:
        for m in mutations:
            print(f"- {m.description}  [{m.file}; {', '.join(m.tests)}]")
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="hm-mutations-") as folder:
        root = prepare_copy(Path(folder))
        check_the_copy_is_imported(root)
        if args.baseline:
            tests = tuple(dict.fromkeys(t for m in mutations for t in m.tests))
            code, summary = run_tests(root, tests, args.timeout * 2)
            print(f"baseline (unmutated): {'pass' if code == 0 else 'FAIL'} - {summary}", flush=True)
            if code != 0:
                return 1
        for m in mutations:
            path = root / PACKAGE / m.file
            original = path.read_text() if path.is_file() else ""
            count = original.count(m.old)
            if count != 1:
                missing = "" if path.is_file() else " (the file does not exist)"
                status, summary, seconds = "NOT APPLICABLE", f"snippet found {count} times in {m.file}{missing}", 0.0
            else:
                path.write_text(original.replace(m.old, m.new))
                start = time.perf_counter()
                try:
                    code, summary = run_tests(root, m.tests, args.timeout)
                finally:
                    path.write_text(original)
                seconds = time.perf_counter() - start
                # 1: tests failed; 0: passed; anything else (collection error, timeout) is not a clean catch
                status = {0: "SURVIVED", 1: "caught", -1: "timeout"}.get(code, f"ERROR (exit {code})")
            results.append((m, status, summary, seconds))
            print(f"{status:>14}  {seconds:6.1f} s  {m.description}  ({summary})", flush=True)
    bad = [r for r in results if r[1] != "caught"]
    print(f"\n{len(results) - len(bad)} of {len(results)} mutations caught"
          + (f"; not caught: {', '.join(m.description for m, *_ in bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
