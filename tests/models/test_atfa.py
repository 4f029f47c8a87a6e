"""ATFA (reconstructed): modality grouping, attention fusion weights, the frequency branch, DANN."""

from __future__ import annotations

import pytest
import torch

from hartune.models import create_model
from hartune.models.atfa import ATFA, ContextAttentionFusion, GradientReversal


def _model(channels: int = 6, **kw) -> ATFA:
    return create_model("atfa", in_channels=channels, num_classes=4, window=64, **kw)


def test_channels_group_into_padded_tri_axial_modalities() -> None:
    model = _model(channels=7).eval()
    with torch.no_grad():
        h_t, h_f = model.modality_tokens(torch.randn(2, 64, 7))
    assert h_t.shape == h_f.shape == (2, 3, 64)  # 7 channels -> 3 modalities of 3 (2 zero channels)


def test_fusion_weights_are_a_distribution_over_modalities() -> None:
    fusion = ContextAttentionFusion(16, 8)
    h = torch.randn(5, 4, 16)
    w = fusion.weights(h)
    assert w.shape == (5, 4, 1) and (w > 0).all()
    torch.testing.assert_close(w.sum(dim=1), torch.ones(5, 1))
    torch.testing.assert_close(fusion(h), (w * h).sum(dim=1))


def test_frequency_branch_ignores_a_circular_time_shift() -> None:
    model = _model().eval()
    x = torch.randn(2, 64, 6)
    with torch.no_grad():
        t1, f1 = model.modality_tokens(x)
        t2, f2 = model.modality_tokens(torch.roll(x, shifts=11, dims=1))
    torch.testing.assert_close(f1, f2, rtol=1e-4, atol=1e-4)  # |FFT| is shift-invariant
    assert not torch.allclose(t1, t2, atol=1e-4)


def test_gradient_reversal_flips_the_gradient() -> None:
    x = torch.randn(3, 5, requires_grad=True)
    GradientReversal.apply(x, 0.5).sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, -0.5))


def test_domain_loss_trains_the_discriminator_and_reverses_into_the_features() -> None:
    torch.manual_seed(0)
    model = _model(domain_adaptation=True).train()
    source, target = torch.randn(4, 64, 6), torch.randn(4, 64, 6) + 1.0
    model.domain_loss(source, target).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.discriminator.parameters())
    reversed_grad = model.fc[0].weight.grad.clone()
    model.zero_grad()
    model.reversal_weight = -1.0  # no reversal: the plain discriminator gradient
    model.domain_loss(source, target).backward()
    torch.testing.assert_close(model.fc[0].weight.grad, -reversed_grad, rtol=1e-4, atol=1e-6)


def test_no_discriminator_by_default() -> None:
    model = _model()
    assert model.discriminator is None and model.auxiliary_loss(torch.randn(2, 64, 6)) is None
    with pytest.raises(RuntimeError, match="domain_adaptation"):
        model.domain_loss(torch.randn(2, 64, 6), torch.randn(2, 64, 6))
