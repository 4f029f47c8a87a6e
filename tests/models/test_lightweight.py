"""ELK-like large-kernel CNN: re-parameterisation merges the two branches without changing outputs."""

from __future__ import annotations

import torch
from torch import nn

from hartune.models import count_parameters, create_model
from hartune.models.lightweight import ELKNet, ReparamLargeKernelConv


def _trained_like(model: ELKNet) -> ELKNet:
    """Random BN statistics and affine terms, so that folding BN is actually exercised."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return model.eval()


def test_reparameterize_keeps_eval_outputs() -> None:
    model = _trained_like(create_model("elk", in_channels=6, num_classes=5, window=100))
    x = torch.randn(3, 100, 6)
    with torch.no_grad():
        before = model(x)
        n_before = count_parameters(model)
        model.reparameterize()
        after = model(x)
    assert not any(isinstance(m, ReparamLargeKernelConv) for m in model.modules())
    depthwise = [m for m in model.modules() if isinstance(m, nn.Conv1d) and m.groups > 1]
    assert depthwise and all(m.kernel_size == (31,) for m in depthwise)  # one conv per block
    assert count_parameters(model) < n_before
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)


def test_large_kernel_is_depthwise_with_a_parallel_small_kernel() -> None:
    model = create_model("elk", in_channels=3, num_classes=4, window=64, kernel_size=15, small_kernel_size=3)
    mixers = [m for m in model.modules() if isinstance(m, ReparamLargeKernelConv)]
    assert len(mixers) == 2  # one block in each of the two stages
    for m in mixers:
        large, small = m.large[0], m.small[0]
        assert (large.kernel_size, small.kernel_size) == ((15,), (3,))
        assert large.groups == large.in_channels == small.groups  # depthwise
