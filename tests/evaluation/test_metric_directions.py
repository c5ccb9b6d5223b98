"""Every metric output's score direction and category, pinned in a literal table written from the metrics'
definitions (paper D.4, the Quantus papers, our completeness check), not read back from the code or from Quantus."""

from __future__ import annotations

import pytest

from hidden_monotonicity.evaluation import get_profile
from hidden_monotonicity.evaluation.metrics import MetricOutput, metric_outputs

# metric -> {output: (direction, category)}
EXPECTED = {
    # faithfulness: the curve of the target's probability while the most relevant features are removed;
    # a faithful map makes it drop early, so a small area is better
    "PixelFlipping": {"AUC@5": ("lower", "Faithfulness"), "AUC@20": ("lower", "Faithfulness")},
    "Selectivity": {"Selectivity": ("lower", "Faithfulness")},
    # localisation: share of relevance inside the object mask / whether the maximum hits the mask
    "AttributionLocalisation": {"AttributionLocalisation": ("higher", "Localisation")},
    "PointingGame": {"PointingGame": ("higher", "Localisation")},
    # robustness: largest change of the map under small input perturbations
    "MaxSensitivity": {"MaxSensitivity": ("lower", "Robustness")},
    # complexity: Gini index of the map (sparser is better) / entropy (lower is better)
    "Sparseness": {"Sparseness": ("higher", "Complexity")},
    "Complexity": {"Complexity": ("lower", "Complexity")},
    # randomisation: the map should change when the model is randomised
    "EfficientMPRT": {"EfficientMPRT": ("higher", "Randomisation")},  # rise of the map's complexity
    "MPRT": {"MPRT": ("lower", "Randomisation")},  # similarity to the randomised model's map
    "RandomLogit": {"RandomLogit": ("lower", "Randomisation")},  # similarity to a random class's map
    # axiomatic
    "Completeness": {"Completeness": ("higher", "Axiomatic"),  # pass rate of sum(a) = f(x) - f(x0)
                     "CompletenessError": ("lower", "Axiomatic")},  # relative error of that sum
    "InputInvariance": {"InputInvariance": ("higher", "Axiomatic")},  # share of unchanged maps under a shift
    "NonSensitivity": {"NonSensitivity": ("lower", "Axiomatic")},  # count of violations
}


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_every_output_has_the_pinned_direction_and_category(metric):
    outputs = metric_outputs(metric)
    assert all(isinstance(output, MetricOutput) for output in outputs)
    found = {output.name: (output.direction, output.category) for output in outputs}
    assert found == EXPECTED[metric]


def test_the_arrows_follow_the_direction():
    for metric, expected in EXPECTED.items():
        for output in metric_outputs(metric):
            assert output.arrow == {"higher": "\u2191", "lower": "\u2193"}[expected[output.name][0]], output.name


def test_every_metric_of_the_shipped_profiles_is_pinned():
    for name in ("smoke", "default", "paper"):
        unpinned = sorted(set(get_profile(name).metrics) - set(EXPECTED))
        assert not unpinned, f"profile {name}: add the direction of {unpinned} to EXPECTED"
