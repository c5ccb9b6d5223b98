"""The classroom profile (issue 29.3): every notebook has one, its figures never land in the committed figures/,
the settings keep each notebook's lesson (04: the default run's shipped results; 05: the DM CNN; 02: the benchmark
models the text discusses), and ``reproduce --profile classroom`` keeps its outputs under results/classroom/."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from hidden_monotonicity import notebook_params, reproduce
from hidden_monotonicity.evaluation import get_profile
from hidden_monotonicity.evaluation.results import SHIPPED_FILES, shipped_result
from hidden_monotonicity.outputs import repository_root

ROOT = repository_root()
TEACHING = ("01_dc_decomposition_toys", "02_numerical_stability", "03_saliency_gallery", "04_quantitative_evaluation",
            "05_self_explaining_models")


@pytest.mark.parametrize("notebook", notebook_params.NOTEBOOKS)
def test_every_notebook_has_a_classroom_profile_whose_figures_stay_out_of_figures(notebook, tmp_path, keep_torch_threads):
    config = notebook_params.configure(notebook, "classroom", device="cpu")
    assert config.profile == "classroom"
    assert config.output_dir == ROOT / notebook_params.PROFILE_OUTPUT_DIRS["classroom"]
    assert config.output_dir != ROOT / "figures"
    explicit = notebook_params.configure(notebook, "classroom", device="cpu", output_dir=tmp_path)
    assert explicit.output_dir == tmp_path  # an explicit folder wins
    assert notebook_params.configure(notebook, "default", device="cpu").output_dir == ROOT / "figures"


def test_classroom_settings_keep_each_lesson(keep_torch_threads):
    def settings(notebook, profile):
        return notebook_params.configure(notebook, profile, device="cpu")

    # 02: the trained benchmark models its text discusses, not the smoke profile's random ResNet18 at 32 px
    classroom = settings("02_numerical_stability", "classroom")
    assert classroom.model == "benchmark_vgg" and dict(classroom.models) == {"benchmark_vgg": 64, "benchmark_resnet": 64}
    # 04: the default evaluation (every method, metric and image), loaded from the shipped results
    classroom, default = settings("04_quantitative_evaluation", "classroom"), settings("04_quantitative_evaluation", "default")
    assert classroom.shipped_results and not default.shipped_results
    assert classroom.evaluation_profile == default.evaluation_profile == "default" and not classroom.evaluation_overrides
    # 05: the default training of the main models, the DM CNN included, for one seed
    classroom, default = settings("05_self_explaining_models", "classroom"), settings("05_self_explaining_models", "default")
    assert classroom.include_cnn and classroom.epochs == default.epochs and classroom.seeds == default.seeds[:1]
    # 01 (and 06): the default sizes; 03: the default gallery, the ImageNet network on two of its four photos at 224 px
    for notebook in ("01_dc_decomposition_toys", "06_interactive_explorer"):
        assert settings(notebook, "classroom").settings == settings(notebook, "default").settings, notebook
    classroom, default = settings("03_saliency_gallery", "classroom"), settings("03_saliency_gallery", "default")
    assert {**classroom.settings, "photo_names": default.photo_names} == default.settings
    assert classroom.photo_size == 224 and set(classroom.photo_names) < set(default.photo_names)


def test_a_profile_naming_a_missing_profile_is_refused(monkeypatch):
    table = dict(notebook_params.NOTEBOOK_SETTINGS["01_dc_decomposition_toys"], classroom="nonexistent")
    monkeypatch.setitem(notebook_params.NOTEBOOK_SETTINGS, "01_dc_decomposition_toys", table)
    with pytest.raises(ValueError, match="refers to 'nonexistent', which is not a profile"):
        notebook_params.profile_settings("01_dc_decomposition_toys", "classroom")


# ------------------------------------------------------------------------------------------- shipped results of 04
def _shipped_folder(folder: Path, profile) -> Path:
    """A miniature of what notebook 04 writes into figures/: the committed small tables and a few score rows."""
    folder.mkdir()
    columns = pd.read_csv(ROOT / "figures" / SHIPPED_FILES["scores"], nrows=2).columns
    rows = [{**{c: 0 for c in columns}, "model": model, "method": row.name, "split": "test", "metric": "AUC@5",
             "status": "ok", "config": "{}", "value": 0.5} for model in profile.models for row in profile.methods]
    pd.DataFrame(rows, columns=columns).to_csv(folder / SHIPPED_FILES["scores"], index=False)
    for key in ("selection", "csv", "md", "comparisons", "metric_correlations"):
        (folder / SHIPPED_FILES[key]).write_bytes((ROOT / "figures" / SHIPPED_FILES[key]).read_bytes())
    return folder


def test_shipped_result_reads_the_default_runs_files_back(tmp_path):
    profile = get_profile("default")
    folder = _shipped_folder(tmp_path / "figures", profile)
    result = shipped_result(folder, profile)
    assert result.complete and result.units_computed == 0 and result.metadata["shipped_from"] == str(folder)
    pd.testing.assert_frame_equal(result.table, pd.read_csv(ROOT / "figures" / "evaluation_table.csv"))
    assert result.paths["md"].read_text(encoding="utf-8").startswith(
        (ROOT / "figures" / "evaluation_table.md").read_text(encoding="utf-8")[:200])
    from hidden_monotonicity.plots.evaluation import directions_from_metadata

    directions = directions_from_metadata(result.metadata)
    assert directions["AUC@5"] == "lower" and directions["PointingGame"] == "higher"
    configurations = result.chosen_configurations(profile, "benchmark_vgg")
    assert set(configurations) == {row.name for row in profile.methods}


def test_shipped_result_refuses_missing_files_and_another_profiles_run(tmp_path):
    profile = get_profile("default")
    with pytest.raises(ValueError, match="lacks evaluation_scores.csv.gz.*run notebook 04 under the default profile"):
        shipped_result(tmp_path, profile)
    folder = _shipped_folder(tmp_path / "figures", profile)
    with pytest.raises(ValueError, match="no rows for .*vgg16.*another profile's run"):
        shipped_result(folder, get_profile("paper"))


def test_notebook_04_loads_the_shipped_results_under_classroom_and_says_so():
    cells = json.loads((ROOT / "notebooks" / "04_quantitative_evaluation.ipynb").read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "shipped_result(shipped, evaluation_profile)" in code and "if config.shipped_results" in code
    assert "`classroom`: the same evaluation, but nothing is recomputed" in markdown


# ------------------------------------------------------------------------------------------- reproduce
def test_reproduce_classroom_keeps_its_outputs_under_results_classroom(tmp_path, kernel_name, monkeypatch, capsys):
    kept = tmp_path / "classroom"
    monkeypatch.setattr(reproduce, "CLASSROOM_FOLDER", kept)  # absolute: repository_root() / kept == kept
    folder = tmp_path / "notebooks"
    folder.mkdir()
    cells = [nbformat.v4.new_code_cell('profile = "default"\noutput_dir = "figures"\nresults_dir = None'),
             nbformat.v4.new_code_cell("print('ran', profile, output_dir, results_dir)")]
    cells[0].metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "01_a.ipynb")
    original = (folder / "01_a.ipynb").read_text()
    arguments = ["--profile", "classroom", "--notebook-dir", str(folder), "--timings", str(tmp_path / "t.json"),
                 "--kernel", kernel_name]

    assert reproduce.main([*arguments, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert f"executed notebooks -> {kept / 'notebooks'}" in dry and "classroom" in dry

    scratch_parent = tmp_path / "tmp"
    scratch_parent.mkdir()
    monkeypatch.setattr(reproduce.tempfile, "tempdir", str(scratch_parent))
    assert reproduce.main(arguments) == 0
    out = capsys.readouterr().out
    assert (folder / "01_a.ipynb").read_text() == original  # the committed notebook is not replaced
    assert not list(scratch_parent.iterdir())  # every output went to results/classroom/: no temporary folder is left
    executed = nbformat.read(kept / "notebooks" / "01_a.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert f"ran classroom {kept / 'figures'} {kept / 'results'}" in printed
    assert "claims: not checked" in out
