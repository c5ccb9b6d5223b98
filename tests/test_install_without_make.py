"""Setup in a classroom (issue 29.11): the install path without ``make`` that README.md ("Install without `make`")
and COURSE.md document agrees with requirements.txt, pyproject.toml and the Makefile; the Python versions they state
agree with what the pinned packages require; ``python -m hidden_monotonicity reproduce`` works without make."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)$")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return {_normalise(m.group(1)): m.group(2) for line in lines if (m := PIN.match(line.strip()))}


def _install_block() -> list[str]:
    """The command lines of the README's "Install without `make`" code block (comments stripped)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("**Install without `make`**")
    block = re.search(r"```bash\n(.*?)```", readme[start:], re.S)
    assert block, "README.md: the 'Install without `make`' paragraph has no ```bash block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]


def _documented_pins(text: str) -> dict[str, str]:
    return {_normalise(name): version for name, version in re.findall(r"([A-Za-z0-9_\-]+)==([0-9][A-Za-z0-9_.+\-]*)", text)}


def test_the_documented_commands_install_what_the_makefile_installs():
    commands = _install_block()
    joined = "\n".join(commands)
    assert re.search(r"^python3? -m venv \.venv$", joined, re.M)
    assert "python -m pip install -r requirements.txt -e ." in commands  # the Makefile: -r requirements.txt, then -e .
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet -r requirements.txt" in makefile and "-e ." in makefile
    # the Makefile re-lays opencv-python-headless over opencv-python; the documented path does the same, same pin
    assert "opencv-python-headless==" in makefile and "--force-reinstall --no-deps" in makefile
    relay = [c for c in commands if "opencv-python-headless" in c]
    assert relay and "--force-reinstall --no-deps" in relay[0]
    assert "python -m hidden_monotonicity reproduce --dry-run" in commands
    assert not any(c.startswith("make") or ".venv/bin/python" in c for c in commands), "the path without make: no make, no POSIX path"


def test_every_version_the_install_docs_name_is_the_pinned_one():
    pins = _pins()
    for name, text in (("README.md", "\n".join(_install_block())),
                       ("COURSE.md", (ROOT / "COURSE.md").read_text(encoding="utf-8"))):
        named = _documented_pins(text)
        assert {"torch", "torchvision"} <= set(named), f"{name} names no torch/torchvision version for the CPU install"
        wrong = {package: version for package, version in named.items() if pins.get(package) != version}
        assert not wrong, f"{name} names versions that requirements.txt does not pin: {wrong} (pins: " \
                          f"{ {package: pins.get(package) for package in wrong} })"


def test_the_cpu_only_torch_is_installed_before_the_requirements_from_the_pytorch_cpu_index():
    commands = _install_block()
    cpu = [i for i, c in enumerate(commands) if CPU_INDEX in c]
    requirements = [i for i, c in enumerate(commands) if "-r requirements.txt" in c]
    assert cpu and requirements and cpu[0] < requirements[0], "the CPU torch must come first (then the pin keeps it)"
    assert re.search(r"torch==\S+ torchvision==\S+ --index-url " + re.escape(CPU_INDEX), commands[cpu[0]])
    # "torch==2.14.1" in requirements.txt is satisfied by the CPU build "2.14.1+cpu" (PEP 440: a local label is ignored)
    pinned = _pins()["torch"]
    assert Version(f"{pinned}+cpu") in SpecifierSet(f"=={pinned}")
    assert CPU_INDEX in (ROOT / "COURSE.md").read_text(encoding="utf-8")


def test_the_stated_minimum_python_is_what_the_pinned_packages_require():
    """The docs say "Python 3.11 or newer": the highest ``Requires-Python`` lower bound among the installed pinned
    packages must be exactly that (a pin that needs 3.12 would make the sentence wrong), and this interpreter meets it."""
    floors = {}
    for name in _pins():
        try:
            requires = metadata.metadata(name).get("Requires-Python") or ""
        except metadata.PackageNotFoundError:
            continue
        bounds = re.findall(r">=\s*([0-9]+\.[0-9]+)", requires)
        if bounds:
            floors[name] = max(Version(bound) for bound in bounds)
    assert floors, "no installed pinned package states Requires-Python"
    minimum = max(floors.values())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    course = (ROOT / "COURSE.md").read_text(encoding="utf-8")
    stated = f"Python {minimum.major}.{minimum.minor} or newer"
    assert stated in readme and stated in course, (
        f"the pinned packages need Python >= {minimum} ({[n for n, v in floors.items() if v == minimum]}); "
        f"README.md and COURSE.md must say '{stated}'")
    assert sys.version_info[:2] >= (minimum.major, minimum.minor)


def test_reproduce_dry_run_works_without_make(tmp_path):
    """``python -m hidden_monotonicity reproduce --dry-run`` as the documented path runs it: the interpreter of the
    environment, no Makefile, no .venv/bin on PATH, from another folder."""
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep) if ".venv" not in part)
    result = subprocess.run(
        [sys.executable, "-m", "hidden_monotonicity", "reproduce", "--dry-run", "--profile", "classroom",
         "--timings", str(tmp_path / "timings.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "profile 'classroom'" in result.stdout and "nothing is run" in result.stdout
    assert "results/classroom" in result.stdout
