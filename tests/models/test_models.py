"""Checks every registered model gets without a new test being written (timm ``tests/test_models.py``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hartune.models import ModelConfigError, Normalized, create_model, torch_models
from hartune.registry import UnknownNameError

NAMES = torch_models()  # the random forest (sklearn) has its own tests: tests/train/test_sklearn.py
B, T, C, K = 4, 40, 5, 4  # a small odd-shaped batch: no model may assume a window or channel count


def _model(name: str, in_channels: int = C, window: int = T, num_classes: int = K):
    return create_model(name, in_channels=in_channels, num_classes=num_classes, window=window)


@pytest.mark.parametrize("name", NAMES)
def test_output_and_feature_shapes(name: str) -> None:
    model = _model(name).eval()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        logits, feats = model(x), model.features(x)
    assert logits.shape == (B, K)
    assert feats.ndim == 2 and feats.shape[0] == B
    assert torch.isfinite(logits).all() and torch.isfinite(feats).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("window, channels", [(16, 1), (30, 113), (171, 40)])
def test_any_window_and_channel_count(name: str, window: int, channels: int) -> None:
    """Shapes of the datasets the paper uses (OPPO 30x113, PAMAP2 171x40) and a short window."""
    model = _model(name, in_channels=channels, window=window, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, window, channels)).shape == (2, 7)


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_one_in_eval(name: str) -> None:
    model = _model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(1, T, C)).shape == (1, K)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_every_parameter(name: str) -> None:
    model = _model(name).train()
    x, y = torch.randn(B, T, C), torch.arange(B) % K
    F.cross_entropy(model(x), y).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: {pname} got no gradient"
        assert p.grad.abs().sum() > 0, f"{name}: {pname} has an all-zero gradient"


@pytest.mark.parametrize("name", NAMES)
def test_overfits_a_tiny_batch(name: str) -> None:
    """8 random windows, 4 classes: a model that can learn at all memorises them."""
    model = _model(name, window=32, in_channels=3)
    x, y = torch.randn(8, 32, 3), torch.arange(8) % 4
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    acc = 0.0
    for step in range(300):
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9:  # eval mode: BN running stats and no dropout, the honest accuracy
            with torch.no_grad():
                acc = (model.eval()(x).argmax(-1) == y).float().mean().item()
            if acc == 1.0:
                break
    assert acc == 1.0, f"{name}: train accuracy {acc} after {step + 1} steps (loss {loss.item():.3f})"


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as e:
        _model("resnet9000")
    msg = str(e.value)
    assert "resnet9000" in msg and all(n in msg for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_knob_is_named(name: str) -> None:
    with pytest.raises(ModelConfigError, match="not_a_knob"):
        create_model(name, in_channels=C, num_classes=K, window=T, not_a_knob=3)


def test_normalized_applies_zscore() -> None:
    model = _model("cnn").eval()
    mean, std = torch.randn(C), torch.rand(C) + 0.5
    wrapped = Normalized(model, mean, std).eval()
    x = torch.randn(B, T, C)
    z = (x - mean) / std
    torch.testing.assert_close(wrapped.normalize(x), z)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), model(z))
        torch.testing.assert_close(wrapped.features(x), model.features(z))
    assert {"mean", "std"} <= set(wrapped.state_dict())


def test_each_factory_builds_its_own_family_and_names_the_other() -> None:
    from sklearn.pipeline import Pipeline

    from hartune.models import HARClassifier, create_estimator

    with pytest.raises(ModelConfigError, match="'random_forest' is a sklearn model.*create_estimator"):
        create_model("random_forest", in_channels=C, num_classes=K, window=T)
    assert isinstance(create_estimator("random_forest", in_channels=C, num_classes=K, window=T), Pipeline)
    with pytest.raises(ModelConfigError, match="'cnn' is a torch model.*create_model"):
        create_estimator("cnn", in_channels=C, num_classes=K, window=T)
    assert all(isinstance(_model(n), HARClassifier) for n in ("cnn", "usad"))
