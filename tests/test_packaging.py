"""The one-command environment stays consistent: environment.yml, requirements.txt, pyproject.toml, Makefile, CI."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

import hidden_monotonicity as hm

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"requirements.txt line is not an exact pin: {line!r}"
        pins[_normalise(match.group(1))] = match.group(2)
    return pins


def test_requirements_pin_the_known_good_stack():
    pins = _pins()
    expected = {"torch": "2.14.1", "torchvision": "0.29.1", "quantus": "0.6.0", "zennit": "0.5.1",
                "grad-cam": "1.5.7", "captum": "0.9.0"}
    for name, version in expected.items():
        assert pins.get(name) == version, f"{name} must be pinned to {version}"
    assert Version(pins["numpy"]) < Version("2.4"), "quantus 0.6.0 calls np.trapz, removed in numpy 2.4"
    for name in ("papermill", "ipykernel", "ipywidgets", "jupyterlab", "seaborn", "matplotlib", "pandas",
                 "scikit-learn", "scikit-image", "tqdm", "pytest", "hypothesis", "opencv-python", "opencv-python-headless"):
        assert name in pins, f"{name} missing from requirements.txt"


def test_environment_yml_is_thin_and_points_at_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    dependencies = env["dependencies"]
    assert "python=3.11" in dependencies and "pip" in dependencies
    pip_section = next(d["pip"] for d in dependencies if isinstance(d, dict))
    assert "-r requirements.txt" in pip_section and "-e ." in pip_section
    conda_names = [d for d in dependencies if isinstance(d, str)]
    assert set(conda_names) == {"python=3.11", "pip"}, "versions live in requirements.txt only"


def test_pyproject_ranges_admit_the_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    for text in declared:
        requirement = Requirement(text)
        name = _normalise(requirement.name)
        assert name in pins, f"{name} is a dependency in pyproject.toml but not pinned in requirements.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"pyproject range {text!r} excludes the pinned {name}=={pins[name]}"
        )


def test_installed_versions_match_the_pins():
    for name, version in _pins().items():
        assert metadata.version(name) == version, f"installed {name} {metadata.version(name)} != pinned {version}"


def test_make_targets_and_ci_entry_point():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("reproduce:", "test:", "lab:", "clean:"):
        assert re.search(rf"^{target}", makefile, re.M), f"Makefile lacks {target}"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "set -euo pipefail" in ci


def test_package_version_and_typing_marker():
    assert hm.__version__ == metadata.version("hidden-monotonicity")
    assert (ROOT / "lib" / "hidden_monotonicity" / "py.typed").exists()


def test_quantus_zennit_captum_and_grad_cam_import_together():
    """quantus pulls opencv-python and grad-cam opencv-python-headless, both write cv2/; a half-overwritten cv2 breaks
    `import quantus` and `import pytorch_grad_cam`."""
    import captum  # noqa: F401
    import cv2
    import pytorch_grad_cam  # noqa: F401
    import quantus  # noqa: F401
    import zennit  # noqa: F401

    assert cv2.resize is not None
