"""notebook_params: configure(), FigureSaver, declared_outputs(), model/data loading helpers, paper table."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import hidden_monotonicity as hm  # noqa: E402
from hidden_monotonicity import notebook_params  # noqa: E402


# ------------------------------------------------------------------------------------------- configure
def test_configure_fills_in_the_profile_and_seeds(tmp_path, keep_torch_threads):
    config = notebook_params.configure("03_saliency_gallery", "smoke", output_dir=tmp_path, device="cpu", seed=3)
    first = torch.rand(3)
    again = notebook_params.configure("03_saliency_gallery", "smoke", output_dir=tmp_path, device="cpu", seed=3)
    assert torch.equal(first, torch.rand(3)), "configure must seed torch"
    assert config == again
    assert config.model == "benchmark_vgg" and config.dataset == "digits" and config.smoke
    assert config.n_images == notebook_params.NOTEBOOK_SETTINGS["03_saliency_gallery"]["smoke"]["n_images"]
    assert config.alphas == (0.0, 0.25, 0.5)  # the smoke value overrides the common one
    assert torch.get_num_threads() == 1  # the smoke profile runs on one thread
    assert config.figures.folder == tmp_path and tmp_path.is_dir()
    table = config.describe()
    assert {"profile", "model", "n_images", "torch threads"} <= set(table["parameter"])


def test_configure_overrides_and_explicit_choices(tmp_path, keep_torch_threads):
    config = notebook_params.configure("03_saliency_gallery", "default", model="benchmark_resnet", output_dir=tmp_path,
                                       device="cpu", threads=1, n_images=1)
    assert config.model == "benchmark_resnet" and config.n_images == 1 and not config.smoke


def test_relative_output_folders_start_at_the_repository_root(tmp_path, keep_torch_threads):
    relative = Path("results") / f"test-notebook-params-{tmp_path.name}"  # results/ is git-ignored
    folder = notebook_params.repository_root() / relative
    try:
        config = notebook_params.configure("00_environment", "smoke", output_dir=relative, device="cpu")
        assert config.output_dir == folder and folder.is_dir()
        assert (notebook_params.repository_root() / "pyproject.toml").is_file()
    finally:
        if folder.is_dir():
            folder.rmdir()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"notebook": "07_missing"}, "unknown notebook"),
        ({"profile": "fast"}, "unknown profile"),
        ({"n_imagez": 3}, "unknown setting"),
        ({"dataset": "cifar"}, "dataset must be one of"),
        ({"dataset": "imagenet_s"}, "needs data_dir"),
        ({"threads": 0}, "threads must be >= 1"),
        ({"device": "tpu"}, "unknown device"),
    ],
)
def test_configure_rejects_bad_parameters(kwargs, message, tmp_path, keep_torch_threads):
    arguments = {"notebook": "03_saliency_gallery", "profile": "smoke", "output_dir": tmp_path, "device": "cpu", **kwargs}
    notebook = arguments.pop("notebook")
    profile = arguments.pop("profile")
    with pytest.raises(ValueError, match=message):
        notebook_params.configure(notebook, profile, **arguments)


def test_every_notebook_has_settings_for_both_profiles():
    for notebook, table in notebook_params.NOTEBOOK_SETTINGS.items():
        assert set(table) == {"common", *notebook_params.PROFILES}, notebook


# ------------------------------------------------------------------------------------------- FigureSaver
def test_figure_saver_writes_and_records(tmp_path):
    saver = notebook_params.FigureSaver(tmp_path / "figs")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    saver.save(fig, "line.png", close=True)
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]})
    saver.save_table(frame, "table.csv")
    saver.save_table(frame, "table.md")
    saver.save_table({"x": 1}, "record.json")
    saver.save_table("# title", "note.md")
    assert saver.written == ["line.png", "table.csv", "table.md", "record.json", "note.md"]
    assert (tmp_path / "figs" / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pd.read_csv(tmp_path / "figs" / "table.csv").equals(frame)
    assert (tmp_path / "figs" / "table.md").read_text().splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.5 |", "| 2 | 0.25 |"]
    assert json.loads((tmp_path / "figs" / "record.json").read_text()) == {"x": 1}
    assert (tmp_path / "figs" / "note.md").read_text() == "# title\n"


@pytest.mark.parametrize("name", ["../escape.png", "sub/dir.png", "figure.gif", "", ".hidden.png", "a b.png"])
def test_figure_saver_rejects_bad_names(tmp_path, name):
    with pytest.raises(ValueError):
        notebook_params.FigureSaver(tmp_path).path(name)


def test_figure_saver_type_errors(tmp_path):
    saver = notebook_params.FigureSaver(tmp_path)
    with pytest.raises(TypeError, match="matplotlib Figure"):
        saver.save("not a figure", "x.png")
    with pytest.raises(TypeError):
        saver.save_table(42, "x.csv")


def test_produced_by_checks_the_writer(tmp_path):
    saver = notebook_params.FigureSaver(tmp_path)
    saver.produced_by(lambda folder: (folder / "a.csv").write_text("x\n"), "a.csv")
    assert saver.written == ["a.csv"]
    with pytest.raises(RuntimeError, match="did not write"):
        saver.produced_by(lambda folder: None, "a.csv")  # exists, but was not rewritten
    with pytest.raises(RuntimeError, match="did not write"):
        saver.produced_by(lambda folder: None, "b.md")


def test_markdown_table_escapes_pipes():
    frame = pd.DataFrame({"name": ["a|b"], "value": [1.0 / 3.0]})
    assert notebook_params.markdown_table(frame).splitlines()[-1] == "| a\\|b | 0.3333 |"


# ------------------------------------------------------------------------------------------- declared_outputs
def _notebook(*sources: str, markdown: str = "see figures/ignored.png"):
    cells = [nbformat.v4.new_markdown_cell(markdown)] + [nbformat.v4.new_code_cell(source) for source in sources]
    return nbformat.v4.new_notebook(cells=cells)


def test_declared_outputs_reads_the_figure_calls():
    notebook = _notebook(
        'figures.save(fig, "a.png")\nconfig.figures.save_table(df, "b.csv")',
        '%matplotlib inline\nfor m in models:\n    figures.save(fig, f"rank_{m}.png")',
        'figures.save(fig, "maybe.png", optional=True)\nfigures.produced_by(writer, "c.md", "d.csv")',
        'other.save(fig, "not_ours.png")\nfigures.save(fig, name_variable)\nfigures.save(fig, "notes.txt")',
        "this is not python (",
    )
    declared = notebook_params.declared_outputs(notebook)
    assert declared == {"a.png": True, "b.csv": True, "rank_*.png": True, "maybe.png": False, "c.md": True, "d.csv": True}


def test_matches_declared_handles_patterns():
    declared = {"a.png": True, "rank_*.png": True}
    assert notebook_params.matches_declared("a.png", declared)
    assert notebook_params.matches_declared("rank_benchmark_vgg.png", declared)
    assert not notebook_params.matches_declared("rank_x.csv", declared)
    assert not notebook_params.matches_declared("b.png", declared)


# ------------------------------------------------------------------------------------------- loading
def test_load_model_falls_back_to_random_init_only_when_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(hm.models, "CHECKPOINT_DIR", tmp_path)  # no checkpoint there
    with pytest.raises(hm.models.WeightsNotFoundError):
        notebook_params.load_model("benchmark_vgg")
    with pytest.warns(UserWarning, match="randomly initialised"):
        model, description = notebook_params.load_model("benchmark_vgg", allow_random_init=True, seed=1)
    again, _ = notebook_params.load_model("benchmark_vgg", allow_random_init=True, seed=1, warn=False)
    assert description.startswith("random init") and not model.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_load_model_reads_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(hm.models, "CHECKPOINT_DIR", tmp_path)
    torch.manual_seed(5)
    reference = hm.models.benchmark_vgg()
    torch.save(reference.state_dict(), tmp_path / "benchmark_vgg.pt")
    model, description = notebook_params.load_model("benchmark_vgg")
    assert "checkpoint" in description
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))


def test_native_input_size_and_image_loading():
    assert notebook_params.native_input_size("vgg16") == 224
    assert notebook_params.native_input_size("benchmark_resnet") == 64
    with pytest.raises(ValueError, match="unknown model"):
        notebook_params.native_input_size("alexnet")
    data = notebook_params.load_images("digits", n=3, image_size=32)
    assert tuple(data.images.shape) == (3, 3, 32, 32) and tuple(data.masks.shape) == (3, 1, 32, 32)
    with pytest.raises(ValueError, match="needs data_dir"):
        notebook_params.load_images("imagenet_s", n=1)
    with pytest.raises(ValueError, match="unknown dataset"):
        notebook_params.load_images("cifar", n=1)


def test_has_imagenet_s_recognises_the_layout(tmp_path):
    assert not notebook_params.has_imagenet_s(None)
    assert not notebook_params.has_imagenet_s(tmp_path)
    (tmp_path / "ImageNetS50" / "validation-segmentation").mkdir(parents=True)
    assert notebook_params.has_imagenet_s(tmp_path)
    assert notebook_params.has_imagenet_s(tmp_path / "ImageNetS50")


# ------------------------------------------------------------------------------------------- paper numbers
def test_compare_with_paper_pairs_our_means_with_the_published_ones():
    table = pd.DataFrame({
        "model": ["vgg16", "vgg16", "vgg16", "resnet18"],
        "method": ["splitcam", "splitcam", "saliency", "splitcam"],
        "metric": ["PointingGame", "Sparseness", "PointingGame", "PointingGame"],
        "mean": [0.9, 0.5, 0.1, 0.2],
    })
    comparison = notebook_params.compare_with_paper(table, model="vgg16")
    assert comparison[["method", "metric"]].values.tolist() == [["splitcam", "PointingGame"]]
    row = comparison.iloc[0]
    assert row["paper"] == 0.938 and row["ours"] == 0.9 and row["difference"] == pytest.approx(0.9 - 0.938)
    assert notebook_params.compare_with_paper(table, model="benchmark_vgg").empty
    with pytest.raises(ValueError, match="columns"):
        notebook_params.compare_with_paper(table.drop(columns="mean"))


def test_paper_table_matches_the_digest():
    paper = notebook_params.paper_table().set_index("method")
    assert paper.loc["splitcam", "PointingGame"] == 0.938
    assert paper.loc["layercam", "MaxSensitivity"] == 5.508
    assert paper.loc["splitlrp", "MaxSensitivity"] == paper["MaxSensitivity"].min()  # SplitLRP is the most robust
    assert set(paper.index) <= set(hm.methods())


def test_display_path_hides_the_checkout_location(tmp_path):
    root = notebook_params.repository_root()
    assert notebook_params.display_path(root / "figures" / "a.png") == str(Path("figures") / "a.png")
    assert notebook_params.display_path(tmp_path) == str(tmp_path.resolve())
