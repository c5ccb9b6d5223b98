"""run_experiment (tidy table + report files) and the Fig. 3 stream plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import hidden_monotonicity as hm  # noqa: E402
from hidden_monotonicity.monotone import DigitSplit, make_model, run_experiment, summarise  # noqa: E402
from hidden_monotonicity.monotone.experiment import (  # noqa: E402
    Variant, default_variants, write_report, write_training_times,
)


@pytest.fixture(scope="module")
def small_digits():
    data = hm.monotone.load_digits_split()
    return DigitSplit("digits", data.x_train[:400], data.y_train[:400], data.x_test[:120], data.y_test[:120], (8, 8))


def test_run_experiment_returns_tidy_rows_and_writes_report(small_digits, tmp_path):
    variants = [
        Variant("DM", {"kind": "dm", "hidden": (16,), "constraint": "clamp"}, checkpoint=True),
        Variant("LMN", {"kind": "lmn", "hidden": (16,)}),
        Variant("DIC", {"kind": "dic", "hidden": (16,), "constraint": "exp"}, table="constraint"),
    ]
    frame = run_experiment(
        seeds=(0, 1, 2), data=small_digits, variants=variants, epochs=2, output_dir=tmp_path / "fig",
        checkpoint_dir=tmp_path / "ck", progress=False,
    )
    assert len(frame) == 9
    assert frame.groupby("model").seed.apply(sorted).tolist() == [[0, 1, 2]] * 3
    for column in ("test_accuracy", "g_mass_on_stroke", "h_mass_on_background", "stroke_fraction", "background_fraction"):
        assert frame[column].between(0, 1).all(), column
    # chance levels depend only on the data, not on the model
    assert frame.stroke_fraction.nunique() == 1
    assert (frame.stroke_fraction + frame.background_fraction).round(12).eq(1).all()
    assert (frame.constraint_violation == 0).all()
    assert (tmp_path / "ck" / "monotone_dm_mlp_seed0.pt").is_file()
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["monotone_dm_mlp_seed0.pt"]
    csv = pd.read_csv(tmp_path / "fig" / "monotone_accuracy.csv")
    assert len(csv) == 9 and set(frame.columns) - {"train_seconds"} == set(csv.columns)
    assert (frame.train_seconds > 0).all()  # measured, returned, but not written to the report
    report = (tmp_path / "fig" / "monotone_accuracy.md").read_text()
    assert "| DM | mlp | clamp |" in report and "| LMN | mlp | none |" in report
    assert "| DIC | exp |" in report  # constraint table
    summary = summarise(frame)
    dm = summary[summary.model == "DM"].iloc[0]
    assert dm.seeds == 3
    assert dm.test_accuracy_mean == pytest.approx(frame[frame.model == "DM"].test_accuracy.mean())
    assert dm.test_accuracy_std == pytest.approx(frame[frame.model == "DM"].test_accuracy.std())


def test_report_is_the_same_bytes_when_only_the_clock_differs_and_the_times_go_to_their_own_file(small_digits, tmp_path):
    """A rerun of make reproduce must leave figures/monotone_accuracy.* unchanged: the training times (which differ
    between two runs of the same code) are the one thing the report files must not hold."""
    variants = [Variant("DM", {"kind": "dm", "hidden": (8,)}), Variant("DIC", {"kind": "dic", "hidden": (8,)}, table="constraint")]
    frame = run_experiment(seeds=(0, 1), data=small_digits, variants=variants, epochs=1, output_dir=None,
                           checkpoint_dir=None, progress=False)
    slower = frame.copy()
    slower["train_seconds"] = frame["train_seconds"] * 3 + 1
    slower.attrs = {**frame.attrs, "wall_seconds": frame.attrs["wall_seconds"] * 3 + 7}
    written = [write_report(f, tmp_path / name) for f, name in ((frame, "run1"), (slower, "run2"))]
    for first, second in zip(*written):
        assert first.read_bytes() == second.read_bytes(), first.name
    report = written[0][1].read_text(encoding="utf-8")
    assert "train s" not in report and "wall time" not in report
    assert "results/monotone/training_times.csv" in report  # says where the times are
    assert "train_seconds" not in pd.read_csv(written[0][0]).columns
    summarise(pd.read_csv(written[0][0]))  # the written csv still summarises

    times = pd.read_csv(write_training_times(slower, tmp_path / "results" / "training_times.csv"))
    assert times["train_seconds"].iloc[:-1].tolist() == pytest.approx(slower["train_seconds"].tolist(), rel=1e-5)
    assert times[["model", "seed"]].iloc[:-1].values.tolist() == slower[["model", "seed"]].values.tolist()
    assert times.iloc[-1]["model"] == "all"
    assert times.iloc[-1]["train_seconds"] == pytest.approx(slower.attrs["wall_seconds"], rel=1e-5)
    with pytest.raises(ValueError, match="read back from monotone_accuracy.csv"):
        write_training_times(pd.read_csv(written[0][0]), tmp_path / "t.csv")


def test_default_variants_cover_the_required_rows():
    labels = [(v.label, v.model_kwargs.get("kind"), v.model_kwargs.get("architecture", "mlp"), v.table) for v in default_variants()]
    kinds = {(kind, arch) for _, kind, arch, table in labels if table == "main"}
    assert {("dm", "mlp"), ("dic", "mlp"), ("unconstrained", "mlp"), ("lmn", "mlp"), ("dm", "cnn"), ("dic", "cnn")} <= kinds
    constraint_rows = {(v.model_kwargs["kind"], v.model_kwargs["constraint"]) for v in default_variants() if v.table == "constraint"}
    assert len(constraint_rows) == 4  # DM and DIC with the two non-default methods


def test_run_experiment_needs_seeds(small_digits):
    with pytest.raises(ValueError, match="at least one seed"):
        run_experiment(seeds=(), data=small_digits, output_dir=None, checkpoint_dir=None)


def test_plot_monotone_streams_grid(small_digits, tmp_path):
    from hidden_monotonicity.plots.monotone import plot_monotone_streams

    model = make_model(0, kind="dic", hidden=(8,)).eval()
    path = tmp_path / "figures" / "streams.png"
    fig = plot_monotone_streams(model, small_digits.x_test, small_digits.y_test, path, classes=[3, 0, 7])
    try:
        assert path.is_file() and path.stat().st_size > 10_000
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert len(axes) == 3 * 4
        assert len(fig.axes) - len(axes) == 3  # one colourbar per row, shared by its three maps
        assert [ax.get_title() for ax in axes[:4]] == ["digit x", "g-map dg/dx", "h-map dh/du, u=1-x", "f-gradient df/dx"]
        assert axes[4].get_ylabel().startswith("class 0")
        # the g-map panel shows exactly the g-gradient of the row's class
        image = axes[1].get_images()[0].get_array()
        x = small_digits.x_test[small_digits.y_test == 3][:1]
        expected = hm.monotone.stream_gradients(model, x, target=3).g.reshape(8, 8)
        torch.testing.assert_close(torch.as_tensor(image.data, dtype=torch.float64), expected.double())
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="no image with label 5"):
        plot_monotone_streams(model, small_digits.x_test[:3], torch.tensor([0, 1, 2]), None, classes=[5])
