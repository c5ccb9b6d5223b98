"""What the notebooks run on: package versions, device, threads, seeds, and whether the XAI stack imports together.

``hm.environment.report()`` returns a plain dict (``report_frame`` turns it into a table) with

* ``python`` / ``platform`` / ``hidden_monotonicity``: interpreter, OS and this package's version;
* ``packages``: the installed version of every package of the stack (``"not installed"`` otherwise);
* ``device``: the torch device the notebooks will use, CUDA availability and GPU names;
* ``threads``: ``torch.get_num_threads()``, inter-op threads and ``os.cpu_count()``;
* ``imports``: one entry per XAI library (quantus, zennit, captum, pytorch_grad_cam, cv2) saying whether it
  imports **in a fresh interpreter, all of them together** (so a broken install is seen even when the current
  process imported them before it broke), with the error message when it does not;
* ``opencv``: the OpenCV pitfall (ecosystem notes section 8): Quantus depends on ``opencv-python`` and
  pytorch-grad-cam on ``opencv-python-headless``; both write the same ``cv2/`` folder, and a mixture of the two
  gives "partially initialized module 'cv2'" errors that surface as ``import quantus`` failures. The section
  records both distributions, where ``cv2`` is imported from and whether ``cv2.resize`` works;
* ``problems``: human-readable list of what is wrong and what to do (empty when all is well).

``assert_ready(report)`` raises :class:`EnvironmentProblem` listing the problems.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "EnvironmentProblem",
    "STACK_DISTRIBUTIONS",
    "XAI_MODULES",
    "assert_ready",
    "check_imports",
    "device_info",
    "package_versions",
    "problems",
    "report",
    "report_frame",
    "seed_everything",
    "select_device",
    "thread_info",
]

#: Distributions whose versions the report lists (PyPI names).
STACK_DISTRIBUTIONS: tuple[str, ...] = (
    "hidden-monotonicity",
    "torch",
    "torchvision",
    "numpy",
    "quantus",
    "zennit",
    "captum",
    "grad-cam",
    "opencv-python",
    "opencv-python-headless",
    "pandas",
    "matplotlib",
    "seaborn",
    "scikit-learn",
    "scikit-image",
    "papermill",
    "ipykernel",
    "ipywidgets",
)

#: Modules that must import together in one interpreter (import names, in import order).
XAI_MODULES: tuple[str, ...] = ("cv2", "quantus", "zennit", "captum", "pytorch_grad_cam")

NOT_INSTALLED = "not installed"

# Runs in a fresh interpreter: imports every module in turn, records success/error, checks cv2.resize.
_IMPORT_PROBE = r"""
import importlib, json, sys, traceback
result = {}
for name in sys.argv[1:]:
    try:
        module = importlib.import_module(name)
        result[name] = {"ok": True, "version": str(getattr(module, "__version__", "")),
                        "file": str(getattr(module, "__file__", ""))}
    except BaseException as error:  # ImportError, AttributeError from half-initialised cv2, ...
        result[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
if result.get("cv2", {}).get("ok"):
    try:
        import numpy as np, cv2
        resized = cv2.resize(np.arange(16, dtype=np.float32).reshape(4, 4), (8, 8), interpolation=cv2.INTER_LINEAR)
        result["cv2"]["resize_ok"] = bool(resized.shape == (8, 8))
    except BaseException as error:
        result["cv2"]["resize_ok"] = False
        result["cv2"]["error"] = f"cv2.resize failed: {type(error).__name__}: {error}"
print("@@PROBE@@" + json.dumps(result))
"""


class EnvironmentProblem(RuntimeError):
    """The environment cannot run the notebooks; the message lists what is wrong and what to do."""


def package_versions(distributions: Sequence[str] = STACK_DISTRIBUTIONS) -> dict[str, str]:
    """Installed version of every distribution (``"not installed"`` when absent)."""
    versions = {}
    for name in distributions:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = NOT_INSTALLED
    return versions


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators with ``seed`` (the one seeding function of the package:
    notebooks, training and the evaluation runner all call it)."""
    import random

    import numpy as np
    import torch

    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


def select_device(requested: str | None = "auto") -> str:
    """The torch device string to use: ``"auto"``/``None`` -> ``"cuda"`` when available else ``"cpu"``.

    Accepts ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` and ``"auto"``. Raises ``ValueError`` (one line,
    saying what to pass instead) when CUDA is requested but not available or the device index does not
    exist, so that nothing silently runs on a different device than asked for.
    """
    import torch

    if requested in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(requested, str):
        raise TypeError(f"device must be a string such as 'cpu', 'cuda', 'cuda:1' or 'auto', got {requested!r}")
    if requested == "cpu":
        return "cpu"
    kind, _, index_text = requested.partition(":")
    if kind != "cuda" or (index_text and not index_text.isdigit()) or requested.endswith(":"):
        raise ValueError(f"unknown device {requested!r}; use 'cpu', 'cuda', 'cuda:<index>' or 'auto'")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {requested!r} was requested but CUDA is not available on this machine "
            f"(torch {torch.__version__}); use device 'cpu' or 'auto'"
        )
    index = int(index_text) if index_text else 0
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device {requested!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    return requested


def device_info(requested: str | None = "auto") -> dict[str, Any]:
    """CUDA availability, GPU names and the device :func:`select_device` picks for ``requested``."""
    import torch

    cuda = torch.cuda.is_available()
    info: dict[str, Any] = {
        "requested": requested if requested is not None else "auto",
        "selected": select_device(requested),
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda or "none (CPU build)",
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
    }
    return info


def thread_info() -> dict[str, Any]:
    """torch intra-/inter-op threads and the machine's CPU count."""
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
    }


def check_imports(
    modules: Sequence[str] = XAI_MODULES,
    *,
    python: str | None = None,
    extra_path: Sequence[str] = (),
    timeout: float = 180.0,
) -> dict[str, dict[str, Any]]:
    """Import ``modules`` together, in this order, in a fresh interpreter; one entry per module.

    Each entry has ``ok`` and either ``version``/``file`` or ``error``; ``cv2`` also gets ``resize_ok``.
    A fresh interpreter is used so that the answer does not depend on what this process imported before.
    ``python`` defaults to ``sys.executable``; ``extra_path`` is prepended to ``PYTHONPATH`` (the tests use it
    to put a deliberately broken ``cv2`` first on the path).
    """
    environment = dict(os.environ)
    if extra_path:
        environment["PYTHONPATH"] = os.pathsep.join([*extra_path, environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    completed = subprocess.run(
        [python or sys.executable, "-c", _IMPORT_PROBE, *modules],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("@@PROBE@@"):
            return json.loads(line[len("@@PROBE@@"):])
    message = (completed.stderr.strip().splitlines() or ["no output"])[-1]
    return {name: {"ok": False, "error": f"the import probe itself failed: {message}"} for name in modules}


def _opencv_section(versions: Mapping[str, str], imports: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    cv2 = imports.get("cv2", {})
    return {
        "opencv-python": versions.get("opencv-python", NOT_INSTALLED),
        "opencv-python-headless": versions.get("opencv-python-headless", NOT_INSTALLED),
        "both_installed": NOT_INSTALLED not in (versions.get("opencv-python"), versions.get("opencv-python-headless")),
        "cv2_version": cv2.get("version", ""),
        "cv2_file": cv2.get("file", ""),
        "cv2_works": bool(cv2.get("ok")) and bool(cv2.get("resize_ok", False)),
    }


def problems(result: Mapping[str, Any]) -> list[str]:
    """What is wrong in a :func:`report` result and how to fix it (empty list: ready)."""
    found = []
    missing = [name for name, version in result["packages"].items() if version == NOT_INSTALLED and name not in (
        "opencv-python", "opencv-python-headless", "papermill", "ipykernel", "ipywidgets")]
    if missing:
        found.append(f"packages not installed: {', '.join(missing)}; run `make venv` (installs requirements.txt)")
    notebook_tools = [name for name in ("papermill", "ipykernel", "ipywidgets") if result["packages"].get(name) == NOT_INSTALLED]
    if notebook_tools:
        found.append(f"notebook tools not installed: {', '.join(notebook_tools)}; `pip install -e .[notebooks]`")
    opencv = result["opencv"]
    imports_checked = bool(result["imports"])
    if opencv["opencv-python"] == NOT_INSTALLED and opencv["opencv-python-headless"] == NOT_INSTALLED:
        found.append("neither opencv-python nor opencv-python-headless is installed; Quantus and grad-cam need cv2")
    elif imports_checked and not opencv["cv2_works"]:
        found.append(
            "cv2 does not work (" + str(result["imports"].get("cv2", {}).get("error", "cv2.resize failed")) + "). "
            "opencv-python and opencv-python-headless both write cv2/; re-lay one over the other: "
            "`pip install --force-reinstall --no-deps opencv-python-headless==<pinned version>` (the Makefile does this)"
        )
    for name, entry in result["imports"].items():
        if name != "cv2" and not entry.get("ok"):
            found.append(f"`import {name}` fails in a fresh interpreter: {entry.get('error')}")
    return found


def report(device: str | None = "auto", *, check_xai_imports: bool = True) -> dict[str, Any]:
    """Everything the notebooks depend on, as a dict (see the module docstring for the sections).

    ``check_xai_imports=False`` skips the fresh-interpreter import probe (a few seconds); ``imports`` is then
    empty and the import and cv2 problems are not looked for.
    """
    from ._version import __version__

    versions = package_versions()
    imports = check_imports() if check_xai_imports else {}
    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "hidden_monotonicity": __version__,
        "packages": versions,
        "device": device_info(device),
        "threads": thread_info(),
        "imports": imports,
        "opencv": _opencv_section(versions, imports),
    }
    result["problems"] = problems(result)
    return result


def report_frame(result: Mapping[str, Any] | None = None):
    """The report as a tidy ``pandas.DataFrame`` with columns ``section``, ``item``, ``value``."""
    import pandas as pd

    result = report() if result is None else result
    rows = []
    for section, value in result.items():
        if isinstance(value, Mapping):
            for item, inner in value.items():
                if isinstance(inner, Mapping):  # imports: one row per module
                    text = "ok" if inner.get("ok") else f"FAILED: {inner.get('error')}"
                    if inner.get("ok") and inner.get("version"):
                        text += f" ({inner['version']})"
                    rows.append((section, item, text))
                else:
                    rows.append((section, item, ", ".join(map(str, inner)) if isinstance(inner, list) else str(inner)))
        elif isinstance(value, list):
            rows.append((section, "count", str(len(value))))
            rows += [(section, f"{i + 1}", text) for i, text in enumerate(value)]
        else:
            rows.append(("general", section, str(value)))
    return pd.DataFrame(rows, columns=["section", "item", "value"])


def assert_ready(result: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`EnvironmentProblem` listing every problem of ``result`` (default: a fresh report)."""
    result = report() if result is None else result
    found = result["problems"]
    if found:
        raise EnvironmentProblem("the environment is not ready:\n- " + "\n- ".join(found))
