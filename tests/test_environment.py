"""hm.environment: versions, device, threads, and the import check that catches a broken cv2."""

from __future__ import annotations

import importlib.metadata

import pytest
import torch

from hidden_monotonicity import environment


@pytest.fixture(scope="module")
def report():
    return environment.report(device="cpu")  # one fresh-interpreter import probe for the whole module


def test_the_xai_stack_imports_together_in_a_fresh_interpreter(report):
    failed = {name: entry.get("error") for name, entry in report["imports"].items() if not entry["ok"]}
    assert not failed, f"these libraries do not import together: {failed}"
    assert list(report["imports"]) == list(environment.XAI_MODULES)
    assert report["opencv"]["cv2_works"] and report["problems"] == []
    environment.assert_ready(report)


def test_versions_threads_and_device(report):
    for name in ("torch", "quantus", "zennit", "captum", "grad-cam"):
        assert report["packages"][name] == importlib.metadata.version(name)
    assert report["threads"]["torch_threads"] == torch.get_num_threads()
    assert report["device"]["selected"] == "cpu" and report["device"]["cuda_available"] == torch.cuda.is_available()
    assert environment.package_versions(("surely-not-a-package-xyz",)) == {"surely-not-a-package-xyz": "not installed"}


def test_report_frame_lists_every_section(report):
    frame = environment.report_frame(report)
    assert list(frame.columns) == ["section", "item", "value"]
    assert {"packages", "device", "threads", "imports", "opencv", "problems"} <= set(frame["section"])
    imports = frame[frame["section"] == "imports"].set_index("item")["value"]
    assert imports["quantus"].startswith("ok")


def test_select_device():
    assert environment.select_device("cpu") == "cpu"
    assert environment.select_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        environment.select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            environment.select_device("cuda")


def test_a_broken_cv2_is_detected_and_explained(tmp_path):
    """The OpenCV pitfall: a half-overwritten cv2/ makes `import cv2` - and with it `import quantus` - fail."""
    broken = tmp_path / "cv2"
    broken.mkdir()
    (broken / "__init__.py").write_text(
        "raise ImportError(\"partially initialized module 'cv2' has no attribute 'gapi_wip_gst_GStreamerPipeline'\")\n"
    )
    imports = environment.check_imports(("cv2", "quantus"), extra_path=[str(tmp_path)])
    assert not imports["cv2"]["ok"] and "partially initialized" in imports["cv2"]["error"]
    assert not imports["quantus"]["ok"]
    result = {
        "packages": environment.package_versions(),
        "imports": imports,
        "opencv": environment._opencv_section(environment.package_versions(), imports),
    }
    found = environment.problems(result)
    assert any("cv2 does not work" in text and "force-reinstall" in text for text in found)
    assert any("import quantus" in text for text in found)
    with pytest.raises(environment.EnvironmentProblem, match="not ready"):
        environment.assert_ready({**result, "problems": found})


def test_missing_packages_are_reported():
    versions = {name: "1.0" for name in environment.STACK_DISTRIBUTIONS}
    versions["zennit"] = environment.NOT_INSTALLED
    result = {"packages": versions, "imports": {}, "opencv": environment._opencv_section(versions, {})}
    found = environment.problems(result)
    assert len(found) == 1 and "zennit" in found[0] and "make venv" in found[0]
