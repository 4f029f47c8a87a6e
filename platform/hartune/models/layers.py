"""Small blocks shared by the model families. Every tensor here is channels-first ``(B, C, T)``, except
``StatisticalFeatures``, which works on the model input ``(B, T, C)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from hartune.augment.features import feature_channels


class ConvBNAct(nn.Sequential):
    """Conv1d -> BatchNorm1d -> activation, with 'same' padding for odd kernels.

    The conv has no bias because the BN right after it has its own shift.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__(
            nn.Conv1d(
                in_channels, out_channels, kernel_size, stride=stride,
                padding=kernel_size // 2, groups=groups, bias=False,
            ),
            nn.BatchNorm1d(out_channels),
            act(),
        )


class StatisticalFeatures(nn.Module):
    """USAD Eq. 16: the window ⊕ its statistical features, (B, T, C) -> (B, T, 5C).

    The features are Eq. 3's ``feature_channels`` (each channel's mean, std and skewness replicated
    over time, then its z-scored curve), computed from each window alone: no label, no other window
    of the batch, no training statistic enters them. Channel blocks: ``[:, :, :C]`` the window itself,
    then means, stds, skewnesses, z-scores (``C`` each).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        return torch.cat([x, feature_channels(x)], dim=2)  # (B, T, 5C)


class SqueezeExcite(nn.Module):
    """x * σ(W2 ReLU(W1 mean_t x)): a channel gate from the time-pooled descriptor (Hu et al., CVPR
    2018, Eq. 2-3). The bottleneck width is ``max(channels // reduction, 4)``."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        inter = max(channels // reduction, 4)
        self.fc = nn.Sequential(nn.Linear(channels, inter), nn.ReLU(), nn.Linear(inter, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return x * self.fc(x.mean(dim=-1)).unsqueeze(-1)  # (B, C, 1) gate


class GlobalAvgPool(nn.Module):
    """(B, C, T) -> (B, C): the mean over time, the pooled features every classifier head reads."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return x.mean(dim=-1)  # (B, C)


def conv_length(length: int, kernel_size: int, stride: int = 1, padding: int = 0, ceil: bool = False) -> int:
    """Output length of a conv or pooling layer along one axis (PyTorch's formula, ``ceil_mode`` too)."""
    span = length + 2 * padding - kernel_size
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= length + padding:
        out -= 1  # PyTorch: the last window must start inside the input or the left padding
    return out


def strided_stages(
    in_channels: int,
    widths: Sequence[int],
    stride: int,
    block: Callable[[int], nn.Module],
    blocks_per_stage: int = 1,
) -> nn.Sequential:
    """One stage per width: a strided 3-tap ConvBNAct to that width, then ``blocks_per_stage`` x
    ``block(width)``. (B, C_in, T) -> (B, widths[-1], T'), T shrinking by ``stride`` per stage."""
    stages, prev = [], in_channels
    for width in widths:
        blocks = [block(width) for _ in range(blocks_per_stage)]
        stages.append(nn.Sequential(ConvBNAct(prev, width, 3, stride=stride), *blocks))
        prev = width
    return nn.Sequential(*stages)
