"""The adaptive weight controller (USAD Eq. 27 as implemented), driven by scripted accuracies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hartune.losses.composite import AdaptiveConfig, AdaptiveWeights, bounded_normalise


def controller(initial, **cfg) -> AdaptiveWeights:
    return AdaptiveWeights(["ce", "focal", "label_smoothing"], np.array(initial), AdaptiveConfig(**cfg))


def test_scripted_accuracies_give_the_expected_weights() -> None:
    c = controller([0.2, 0.3, 0.5], temperature=1.0, rate=0.1)
    # epoch 1: nothing to compare with
    np.testing.assert_allclose(c.update(0.50), [0.2, 0.3, 0.5])
    # epoch 2: +2 pp -> σ = 0.1·tanh(2/1) = 0.0964028; highest (0.5) x e^-σ = 0.454049,
    # lowest (0.2) x e^σ = 0.220240; sum 0.974289 -> (0.226052, 0.307917, 0.466031)
    np.testing.assert_allclose(c.update(0.52), [0.226052, 0.307917, 0.466031], atol=1e-6)
    # epoch 3: -2 pp -> σ = -0.0964028: the same pair moves back, exactly
    np.testing.assert_allclose(c.update(0.50), [0.2, 0.3, 0.5], atol=1e-9)
    # epoch 4: no change of accuracy -> no change of weights
    np.testing.assert_allclose(c.update(0.50), [0.2, 0.3, 0.5], atol=1e-9)
    # epoch 5: +3 pp -> σ = 0.1·tanh(3) = 0.0995055: 0.5·e^-σ = 0.452638, 0.2·e^σ = 0.220923
    s = 0.1 * math.tanh(3.0)
    raw = np.array([0.2 * math.exp(s), 0.3, 0.5 * math.exp(-s)])
    np.testing.assert_allclose(c.update(0.53), raw / raw.sum(), atol=1e-9)
    np.testing.assert_allclose(c.weights, [0.226923, 0.308145, 0.464932], atol=1e-6)


def test_temperature_sets_how_much_accuracy_earns_a_step() -> None:
    cold, hot = controller([0.2, 0.3, 0.5], temperature=0.5), controller([0.2, 0.3, 0.5], temperature=2.0)
    for c in (cold, hot):
        c.update(0.50)
        c.update(0.505)  # +0.5 pp
    assert cold.step_size(0.51) == pytest.approx(0.1 * math.tanh(0.5 / 0.5))  # 0.0761594
    assert hot.step_size(0.51) == pytest.approx(0.1 * math.tanh(0.5 / 2.0))  # 0.0244919
    assert abs(cold.weights[2] - 0.5) > abs(hot.weights[2] - 0.5)


def test_improving_moves_the_pair_together_but_never_past_each_other() -> None:
    c = controller([0.33, 0.33, 0.34], rate=1.0, temperature=0.1)
    c.update(0.5)
    w = c.update(0.9)  # a huge gain: the step is capped where highest and lowest meet
    assert w[2] == pytest.approx(w[1], abs=1e-12)
    assert w[0] == pytest.approx(0.33 / (0.33 + 2 * math.sqrt(0.33 * 0.34)))


def test_falling_accuracy_drives_weights_to_the_bounds_and_no_further() -> None:
    c = controller([0.2, 0.3, 0.5], temperature=0.5, rate=0.5, min_weight=0.1, max_weight=0.6)
    for epoch in range(30):
        w = c.update(0.9 - 0.01 * epoch)
        assert w.sum() == pytest.approx(1.0)
        assert (w >= 0.1 - 1e-12).all() and (w <= 0.6 + 1e-12).all()
    assert w.max() == pytest.approx(0.6)  # pinned at max_weight
    # two terms: the pair ends exactly on the bounds
    two = AdaptiveWeights(["a", "b"], np.array([0.3, 0.7]), AdaptiveConfig(rate=0.5, min_weight=0.1, max_weight=0.9))
    for epoch in range(30):
        w = two.update(0.9 - 0.01 * epoch)
    np.testing.assert_allclose(w, [0.1, 0.9], atol=1e-12)


def test_initial_weights_outside_the_bounds_are_brought_inside() -> None:
    c = controller([0.9, 0.05, 0.05], min_weight=0.1, max_weight=0.8)
    np.testing.assert_allclose(c.weights, [0.8, 0.1, 0.1])


@pytest.mark.parametrize("w, low, high", [
    ([5.0, 1.0, 1.0, 1.0], 0.1, 0.4), ([1.0, 1.0, 1.0], 0.0, 1.0), ([0.0, 0.0, 1.0], 0.2, 0.5),
    ([3.0, 2.0, 1.0, 0.01, 0.01], 0.05, 0.3),
])
def test_bounded_normalise_sums_to_one_inside_the_bounds(w, low, high) -> None:
    out = bounded_normalise(np.array(w), low, high)
    assert out.sum() == pytest.approx(1.0)
    assert (out >= low - 1e-12).all() and (out <= high + 1e-12).all()


def test_the_loss_module_logs_the_weights_it_trained_with_then_updates() -> None:
    from hartune.losses import LOSSES

    loss = LOSSES.get("acl")(weights=[0.2, 0.3, 0.5]).build([10, 10, 10])
    assert loss.on_epoch_end(1, {"accuracy": 0.5}) == pytest.approx(
        {"loss_weight_ce": 0.2, "loss_weight_focal": 0.3, "loss_weight_label_smoothing": 0.5})
    logged = loss.on_epoch_end(2, {"accuracy": 0.52})
    assert logged["loss_weight_label_smoothing"] == pytest.approx(0.5)  # used during epoch 2
    np.testing.assert_allclose(loss.weights.numpy(), [0.226052, 0.307917, 0.466031], atol=1e-6)
    assert loss.weights.dtype == torch.float32
