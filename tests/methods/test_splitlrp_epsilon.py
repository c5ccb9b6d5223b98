"""SplitLRP's ε-rule (paper C.3) by hand on a two-layer split net with a large ε, and conservation with biases:
at every affine layer, Σ R(input) = Σ R(output) − Σ_k R_k^± (b_k^± + ε) / (z_k^± + ε) exactly (the share absorbed by
the bias and by ε); across a Maxout (ReLU) the relevance is conserved."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import hidden_monotonicity as hm

sys.path.insert(0, str(Path(__file__).parents[1] / "decomposition"))

from reference import reference_graph_split, sequential_nodes  # noqa: E402

EPSILON = 0.1  # large, so that the share ε absorbs is visible

W1 = [[0.9, -0.6], [-0.4, 0.7], [0.5, 0.3]]
B1 = [0.2, -0.1, -0.3]
W2 = [[1.2, -0.8, 0.5], [-0.7, 0.9, 0.4]]
B2 = [-0.25, 0.15]


def _two_layer_net() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)).double().eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(W1, dtype=torch.float64))
        model[0].bias.copy_(torch.tensor(B1, dtype=torch.float64))
        model[2].weight.copy_(torch.tensor(W2, dtype=torch.float64))
        model[2].bias.copy_(torch.tensor(B2, dtype=torch.float64))
    return model


def _parts(v):
    """Minimal split of a number: (max(v, 0), max(−v, 0))."""
    return max(v, 0.0), max(-v, 0.0)


def _split_affine(weights, biases, x_pos, x_neg):
    z_pos, z_neg = [], []
    for row, b in zip(weights, biases):
        p = sum(_parts(w)[0] * xp + _parts(w)[1] * xn for w, xp, xn in zip(row, x_pos, x_neg)) + _parts(b)[0]
        n = sum(_parts(w)[1] * xp + _parts(w)[0] * xn for w, xp, xn in zip(row, x_pos, x_neg)) + _parts(b)[1]
        z_pos.append(p)
        z_neg.append(n)
    return z_pos, z_neg


def _epsilon_rule(weights, x_pos, x_neg, z_pos, z_neg, r_out_pos, r_out_neg, epsilon):
    """R(x^±_i) = x^±_i Σ_j (W^±_ji r⁺_j + W^∓_ji r⁻_j), r^±_j = R(z^±_j) / (z^±_j + ε)."""
    r_pos = [r / (z + epsilon) for r, z in zip(r_out_pos, z_pos)]
    r_neg = [r / (z + epsilon) for r, z in zip(r_out_neg, z_neg)]
    rel_pos, rel_neg = [], []
    for i in range(len(x_pos)):
        c_pos = sum(_parts(weights[j][i])[0] * r_pos[j] + _parts(weights[j][i])[1] * r_neg[j] for j in range(len(weights)))
        c_neg = sum(_parts(weights[j][i])[1] * r_pos[j] + _parts(weights[j][i])[0] * r_neg[j] for j in range(len(weights)))
        rel_pos.append(x_pos[i] * c_pos)
        rel_neg.append(x_neg[i] * c_neg)
    return rel_pos, rel_neg


def hand_splitlrp(x, target, epsilon):
    """The whole SplitLRP pass of the two-layer net, written out: returns (g, R at the ReLU output, R at the input)."""
    x_pos, x_neg = [_parts(v)[0] for v in x], [_parts(v)[1] for v in x]
    z_pos, z_neg = _split_affine(W1, B1, x_pos, x_neg)
    wins = [p - n >= 0 for p, n in zip(z_pos, z_neg)]  # the original pre-activation decides the Maxout winner
    a_pos = [p if w else n for p, n, w in zip(z_pos, z_neg, wins)]
    a_neg = list(z_neg)
    y_pos, y_neg = _split_affine(W2, B2, a_pos, a_neg)
    g = y_pos[target]
    seed_pos = [g if k == target else 0.0 for k in range(len(y_pos))]
    seed_neg = [0.0] * len(y_neg)
    hidden = _epsilon_rule(W2, a_pos, a_neg, y_pos, y_neg, seed_pos, seed_neg, epsilon)
    # Maxout: a⁺ = max(z⁺, z⁻) sends its relevance to the winner, a⁻ = z⁻ to z⁻
    into_pos = [r if w else 0.0 for r, w in zip(hidden[0], wins)]
    into_neg = [rn + (0.0 if w else rp) for rp, rn, w in zip(hidden[0], hidden[1], wins)]
    inputs = _epsilon_rule(W1, x_pos, x_neg, z_pos, z_neg, into_pos, into_neg, epsilon)
    return g, hidden, inputs


@pytest.mark.parametrize("x, target", [([0.8, -0.5], 0), ([-0.3, 0.9], 1), ([0.6, 0.4], 0)])
def test_splitlrp_equals_the_hand_computed_epsilon_rule(x, target):
    model = _two_layer_net()
    g, hidden, inputs = hand_splitlrp(x, target, EPSILON)
    result = hm.decompose(model, stabilize="none").relevance(torch.tensor([x], dtype=torch.float64), [target],
                                                              ["input", "1"], epsilon=EPSILON)
    assert result.g.item() == pytest.approx(g, rel=1e-12)
    np.testing.assert_allclose(result["1"].pos[0].numpy(), hidden[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result["1"].neg[0].numpy(), hidden[1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result["input"].pos[0].numpy(), inputs[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result["input"].neg[0].numpy(), inputs[1], rtol=1e-12, atol=1e-15)
    # ε is visible: the same pass with a tiny ε gives a clearly different input relevance
    tiny = hand_splitlrp(x, target, 1e-9)[2]
    assert abs(sum(tiny[0]) + sum(tiny[1]) - sum(inputs[0]) - sum(inputs[1])) > 1e-3 * abs(g)


def test_conservation_with_biases_and_epsilon_at_every_layer():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 4)).double().eval()
    x = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    targets = torch.tensor([0, 3, 1])
    layers = ["input", "0", "1", "2", "3", "4"]
    result = hm.decompose(model, stabilize="none").relevance(x, targets, layers[:-1], epsilon=EPSILON)
    g_ref, _, _, streams = reference_graph_split(sequential_nodes(model), x, targets)  # independent of the engine
    torch.testing.assert_close(result.g, g_ref, rtol=1e-12, atol=1e-12)
    relevance = {name: (result[name].pos, result[name].neg) for name in layers[:-1]}
    relevance["4"] = (torch.zeros_like(streams["4"][0]).scatter_(1, targets[:, None], g_ref[:, None]),
                      torch.zeros_like(streams["4"][1]))

    def total(name):
        return (relevance[name][0] + relevance[name][1]).sum(1)

    for k, module in enumerate(model):
        below, here = layers[k], str(k)
        if isinstance(module, nn.Linear):
            b = module.bias
            z_pos, z_neg = streams[here]
            absorbed = (relevance[here][0] * (b.clamp_min(0) + EPSILON) / (z_pos + EPSILON)
                        + relevance[here][1] * ((-b).clamp_min(0) + EPSILON) / (z_neg + EPSILON)).sum(1)
            assert (absorbed > 1e-3 * total(here).abs()).all(), "the bias/ε share must be visible"
            torch.testing.assert_close(total(below), total(here) - absorbed, rtol=1e-11, atol=1e-12)
        else:
            torch.testing.assert_close(total(below), total(here), rtol=1e-12, atol=1e-12)
