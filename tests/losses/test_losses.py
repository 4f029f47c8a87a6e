"""Every registered loss against values computed by hand (arithmetic in the comments), plus checks
that every registered loss gets without a test being written for it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hartune.losses import LOSSES
from hartune.losses.balanced import class_balanced_weights
from hartune.registry import ConfigError, validate_config

# Two windows, three classes. Row 0: logits (2, 0, 0), target 0; row 1: logits (0, 1, 0), target 2.
LOGITS = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
TARGET = torch.tensor([0, 2])
# log-sum-exp row 0 = log(e^2 + 2) = log(9.389056) = 2.239545;  -log p_0 = 2.239545 - 2 = 0.239545
# log-sum-exp row 1 = log(2 + e)   = log(4.718282) = 1.551445;  -log p_2 = 1.551445
CE_ROWS = [0.239545, 1.551445]
CE = (0.239545 + 1.551445) / 2  # 0.895495
COUNTS = [100, 10, 1]


def build(name: str, **params) -> torch.nn.Module:
    return validate_config(LOSSES.get(name), {"name": name, **params}).build(COUNTS)


def value(out) -> float:
    total, _ = out  # every loss returns (total, terms)
    return float(total)


def test_cross_entropy() -> None:
    assert value(build("ce")(LOGITS, TARGET)) == pytest.approx(CE, abs=1e-5)


def test_label_smoothing_with_epsilon_zero_is_cross_entropy() -> None:
    assert value(build("label_smoothing", epsilon=0.0)(LOGITS, TARGET)) == pytest.approx(CE, abs=1e-5)


def test_label_smoothing_by_hand() -> None:
    # (1 - ε)·CE + ε·mean_k(-log p_k), ε = 0.1
    # row 0: -log p = (0.239545, 2.239545, 2.239545), mean 1.572878 -> 0.9·0.239545 + 0.1·1.572878 = 0.372878
    # row 1: -log p = (1.551445, 0.551445, 1.551445), mean 1.218112 -> 0.9·1.551445 + 0.1·1.218112 = 1.518112
    assert value(build("label_smoothing", epsilon=0.1)(LOGITS, TARGET)) == pytest.approx(
        (0.372878 + 1.518112) / 2, abs=1e-5)


def test_focal_with_gamma_zero_is_alpha_weighted_cross_entropy() -> None:
    # per-class α = (0.5, 1, 2): mean(0.5·0.239545, 2·1.551445) = (0.119773 + 3.102890) / 2
    got = value(build("focal", gamma=0.0, alpha=[0.5, 1.0, 2.0])(LOGITS, TARGET))
    assert got == pytest.approx((0.119773 + 3.102890) / 2, abs=1e-5)
    # scalar α = 0.25 with alpha_rule uniform (the rule up to 6e9d4e2) scales CE by a constant
    assert value(build("focal", gamma=0.0, alpha=0.25, alpha_rule="uniform")(LOGITS, TARGET)) == pytest.approx(
        0.25 * CE, abs=1e-5)


def test_scalar_focal_alpha_weighs_minority_classes_alpha_and_the_rest_one_minus_alpha() -> None:
    # counts (100, 10, 1): mean 37, so classes 1 and 2 are the minority (α = 0.25), class 0 gets 0.75
    # (Lin et al.'s α for the rare class). Targets 0 and 2: mean(0.75·0.239545, 0.25·1.551445)
    got = value(build("focal", gamma=0.0, alpha=0.25)(LOGITS, TARGET))
    assert got == pytest.approx((0.75 * 0.239545 + 0.25 * 1.551445) / 2, abs=1e-5)
    np.testing.assert_allclose(build("focal", alpha=0.25).alpha.numpy(), [0.75, 0.25, 0.25])
    # two α values now weigh the classes differently, not only scale the loss
    a, b = (build("focal", gamma=1.0, alpha=x).alpha.numpy() for x in (0.25, 0.75))
    assert not np.allclose(a / a.sum(), b / b.sum())


def test_focal_by_hand() -> None:
    # γ = 2, α = 1: p_0 = e^-0.239545 = 0.787012, (1 - p)^2 = 0.045364 -> 0.045364·0.239545 = 0.010867
    #               p_2 = e^-1.551445 = 0.211942, (1 - p)^2 = 0.621036 -> 0.621036·1.551445 = 0.963503
    got = value(build("focal", gamma=2.0, alpha=[1.0, 1.0, 1.0])(LOGITS, TARGET))
    assert got == pytest.approx((0.010867 + 0.963503) / 2, abs=1e-5)


def test_class_balanced_weights_match_the_formula() -> None:
    # β = 0.99, counts (100, 10, 1): β^n = 0.3660323, 0.9043821, 0.99
    # (1-β)/(1-β^n) = 0.01/0.6339677, 0.01/0.0956179, 0.01/0.01 = 0.0157737, 0.1045830, 1.0
    # sum 1.1203567; scaled to sum to K = 3: x 2.6777190
    np.testing.assert_allclose(
        class_balanced_weights(COUNTS, 0.99), [0.0422375, 0.2800436, 2.6777190], rtol=1e-5)
    np.testing.assert_allclose(class_balanced_weights(COUNTS, 0.0), [1.0, 1.0, 1.0])  # β = 0: no reweighting
    w = class_balanced_weights(COUNTS, 0.999999)  # β -> 1: inverse frequency
    np.testing.assert_allclose(w / w[0], [1.0, 10.0, 100.0], rtol=1e-3)


def test_class_balanced_loss_is_weighted_mean_of_ce_or_focal() -> None:
    w = class_balanced_weights(COUNTS, 0.99)
    got = value(build("class_balanced", beta=0.99)(LOGITS, TARGET))
    assert got == pytest.approx((w[0] * 0.239545 + w[2] * 1.551445) / 2, abs=1e-5)
    got = value(build("class_balanced", beta=0.99, base="focal", gamma=2.0)(LOGITS, TARGET))
    assert got == pytest.approx((w[0] * 0.010867 + w[2] * 0.963503) / 2, abs=1e-5)
    assert value(build("class_balanced", beta=0.0)(LOGITS, TARGET)) == pytest.approx(CE, abs=1e-5)


def cui_reference(logits: np.ndarray, target: np.ndarray, counts: list[int], beta: float, gamma: float) -> float:
    """Cui et al.'s reference ``CB_loss(loss_type="focal")`` (richardaecn/class-balanced-loss; PyTorch port
    vandit15/Class-balanced-loss-pytorch), in numpy: its stable modulator, summed, / number of positives."""
    w = class_balanced_weights(counts, beta)
    onehot = np.eye(logits.shape[1])[target]
    bce = np.maximum(logits, 0) - logits * onehot + np.log1p(np.exp(-np.abs(logits)))
    modulator = np.exp(-gamma * onehot * logits - gamma * np.log1p(np.exp(-logits))) if gamma else 1.0
    return float((w[target][:, None] * modulator * bce).sum() / onehot.sum())


@pytest.mark.parametrize("base, gamma", [("focal", 2.0), ("focal", 1.0), ("ce", 0.0)])
def test_class_balanced_sigmoid_form_is_the_reference_code(base: str, gamma: float) -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(32, 3) * 2, torch.randint(0, 3, (32,))
    got = value(build("class_balanced", beta=0.99, base=base, gamma=gamma, form="sigmoid")(logits, target))
    assert got == pytest.approx(cui_reference(logits.numpy(), target.numpy(), COUNTS, 0.99, gamma), rel=1e-5)
    # the softmax form (default) is another function of the same inputs (about half on this batch)
    softmax = value(build("class_balanced", beta=0.99, base=base, gamma=gamma)(logits, target))
    assert softmax < 0.75 * got


def test_composite_is_the_normalised_weighted_sum_with_per_term_values() -> None:
    total, terms = build("combination1")(LOGITS, TARGET)  # 0.3·CE + 0.4·focal(γ=1, α=.25) + 0.3·LS(ε=.05)
    # focal α = 0.25: class 0 (majority of COUNTS) weighs 0.75, class 2 (minority) 0.25
    focal = (0.75 * (1 - 0.787012) * 0.239545 + 0.25 * (1 - 0.211942) * 1.551445) / 2  # 0.178363
    ls = 0.95 * CE + 0.05 * (1.572878 + 1.218112) / 2  # 0.920518
    assert float(terms["ce"]) == pytest.approx(CE, abs=1e-5)
    assert float(terms["focal"]) == pytest.approx(focal, abs=1e-5)
    assert float(terms["label_smoothing"]) == pytest.approx(ls, abs=1e-5)
    assert float(total) == pytest.approx(0.3 * CE + 0.4 * focal + 0.3 * ls, abs=1e-5)
    # weights by name, any scale: 2:2:4 is 0.25/0.25/0.5
    total, _ = build("composite", weights={"ce": 2, "focal": 2, "label_smoothing": 4})(LOGITS, TARGET)
    assert float(total) == pytest.approx(0.25 * CE + 0.25 * focal + 0.5 * ls, abs=1e-5)


@pytest.mark.parametrize("name, weights", [
    ("compound", [1 / 3, 1 / 3, 1 / 3]), ("composite", [1 / 3, 1 / 3, 1 / 3]),
    ("combination1", [0.3, 0.4, 0.3]), ("combination2", [0.15, 0.7, 0.15]), ("acl", [0.33, 0.33, 0.34]),
])
def test_table2_rows_start_from_the_paper_weights(name: str, weights: list[float]) -> None:
    loss = build(name)
    assert list(loss.terms) == ["ce", "focal", "label_smoothing"]
    np.testing.assert_allclose(loss.weights.numpy(), weights, atol=1e-6)
    assert (loss.controller is not None) == (name == "acl")


@pytest.mark.parametrize("params, message", [
    ({"name": "composite", "weights": [1, 2]}, "weights has 2 entries; terms has 3"),
    ({"name": "composite", "weights": {"ce": 1, "focal": 1}}, "weights has keys"),
    ({"name": "composite", "weights": [1, -1, 1]}, "must be >= 0"),
    ({"name": "acl", "adaptive": {"min_weight": 0.3, "max_weight": 0.2}}, "min_weight=0.3 must be < max_weight=0.2"),
    ({"name": "acl", "adaptive": {"min_weight": 0.4, "max_weight": 0.9}}, "need min_weight <= 0.3333"),
    ({"name": "composite", "terms": {"x": {"name": "acl"}}}, "terms.x"),
    ({"name": "class_balanced", "beta": 1.0}, "beta"),
    ({"name": "focal", "gamma": -1}, "gamma"),
    ({"name": "focal", "alpha_rule": "inverse"}, "alpha_rule"),
    ({"name": "class_balanced", "form": "logistic"}, "form"),
])
def test_bad_loss_configs_are_one_line_errors(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        validate_config(LOSSES.get(params["name"]), params, prefix="loss")


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_is_finite_and_trains(name: str) -> None:
    torch.manual_seed(0)
    logits = torch.randn(16, 3, requires_grad=True)
    target = torch.randint(0, 3, (16,))
    loss, _ = build(name)(logits, target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_keeps_the_one_contract(name: str) -> None:
    from hartune.losses import Loss

    loss = build(name)
    assert isinstance(loss, Loss)
    out = loss(LOGITS, TARGET)
    assert isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)
    logged = loss.on_epoch_end(1, {"accuracy": 0.5, "f1_macro": 0.5})
    assert isinstance(logged, dict) and (logged == {}) == (not out[1])  # only composites log weights
