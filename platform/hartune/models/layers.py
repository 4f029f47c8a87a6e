"""Small blocks shared by the model families. Every tensor here is channels-first ``(B, C, T)``."""

from __future__ import annotations

import torch
from torch import nn


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


class GlobalAvgPool(nn.Module):
    """(B, C, T) -> (B, C): the mean over time, the pooled features every classifier head reads."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return x.mean(dim=-1)  # (B, C)
