"""The conditional 1-D U-Net: any window >= 16 and channel count, gradients everywhere, conditioning used."""

from __future__ import annotations

import pytest
import torch

from hartune.augment import Denoiser, DenoiserConfig
from hartune.registry import ConfigError, validate_config

SMALL = DenoiserConfig(width=8, channel_mult=(1, 2, 2), time_dim=16, label_dim=4, stats_dim=8, emb_dim=16)


def _inputs(b: int, t: int, c: int, k: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, t, c, generator=g),  # x_t
        torch.randint(0, 100, (b,), generator=g),  # t
        torch.arange(b) % k,  # y
        torch.randn(b, c, 3, generator=g),  # stats
        torch.randn(b, t, c, generator=g),  # local
    )


@pytest.mark.parametrize("window, channels", [(16, 1), (17, 3), (30, 113), (100, 6), (171, 40)])
def test_output_shape_equals_input_shape(window: int, channels: int) -> None:
    net = Denoiser(channels, 5, SMALL).eval()
    x = _inputs(2, window, channels, 5)
    with torch.no_grad():
        eps = net(*x)
    assert eps.shape == x[0].shape and torch.isfinite(eps).all()


def test_gradient_on_every_parameter() -> None:
    torch.manual_seed(0)
    net = Denoiser(3, 4, SMALL).train()
    x = _inputs(4, 37, 3, 4)
    net(*x).pow(2).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("which", [1, 2, 3, 4])  # t, y, stats, local
def test_every_condition_changes_the_output(which: int) -> None:
    torch.manual_seed(0)
    net = Denoiser(3, 4, SMALL).eval()
    a = list(_inputs(4, 32, 3, 4))
    b = list(a)
    b[which] = (a[which] + 1) % 4 if which == 2 else (a[which] + 1)
    with torch.no_grad():
        assert not torch.allclose(net(*a), net(*b), atol=1e-5)


def test_padding_does_not_leak_across_the_batch() -> None:
    """An odd window is padded inside; each sample's output depends only on its own input."""
    torch.manual_seed(0)
    net = Denoiser(2, 3, SMALL).eval()
    x = _inputs(3, 23, 2, 3)
    with torch.no_grad():
        whole = net(*x)
        first = net(*(v[:1] for v in x))
    torch.testing.assert_close(whole[:1], first, atol=1e-5, rtol=1e-4)


def test_config_errors_are_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^denoiser\.kernel_size=4: must be odd"):
        validate_config(DenoiserConfig, {"kernel_size": 4}, prefix="denoiser")
