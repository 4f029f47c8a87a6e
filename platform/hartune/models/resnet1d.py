"""1-D ResNet for time series (Wang, Yan, Oates, "Time Series Classification from Scratch with Deep
Neural Networks: A Strong Baseline", IJCNN 2017), the "ResNet" row of HAR comparison tables.

Layout, for input (B, T, C):

    block x3   [conv k8 -> BN -> ReLU, conv k5 -> BN -> ReLU, conv k3 -> BN] + shortcut -> ReLU
               widths 64, 128, 128; shortcut = 1x1 conv + BN when the width changes, else BN
    pool       mean over time                                         features (B, 128)
    head       Linear                                                 logits   (B, K)

Departures: none in the layers; stride 1 throughout and 'same' padding as in the reference, so
any window length works. The even kernel 8 is padded asymmetrically (3 left, 4 right), as
Keras' ``"same"`` does. ``dropout`` (default 0, the reference has none) is a knob for small datasets.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

import torch
from pydantic import Field, PositiveInt
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import GlobalAvgPool


class ResNet1dConfig(ModelConfig):
    widths: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (64, 128, 128)
    kernel_sizes: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (8, 5, 3)  # per conv of a block
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


def _same_conv(c_in: int, c_out: int, kernel_size: int) -> nn.Sequential:
    """Length-keeping conv; an even kernel gets one more zero on the right, as Keras' "same"."""
    pad = nn.ConstantPad1d(((kernel_size - 1) // 2, kernel_size // 2), 0.0)
    return nn.Sequential(pad, nn.Conv1d(c_in, c_out, kernel_size, bias=False))


class ResidualBlock(nn.Module):
    """Convs of ``kernel_sizes`` with BN (ReLU between), plus a shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel_sizes: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        widths = (c_in,) + (c_out,) * len(kernel_sizes)
        for i, (k, a, b) in enumerate(zip(kernel_sizes, widths[:-1], widths[1:])):
            layers += [_same_conv(a, b, k), nn.BatchNorm1d(b)]
            if i < len(kernel_sizes) - 1:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)
        # Wang et al.: a 1x1 conv expands the shortcut when the width changes; BN on it always.
        expand = nn.Conv1d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()
        self.shortcut = nn.Sequential(expand, nn.BatchNorm1d(c_out))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T)
        return self.act(self.body(x) + self.shortcut(x))  # (B, C_out, T)


class ResNet1d(HARClassifier):
    """Three residual blocks, global average pooling, a linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, cfg: ResNet1dConfig) -> None:
        super().__init__()
        widths = (in_channels, *cfg.widths)
        self.blocks = nn.Sequential(*[
            ResidualBlock(a, b, cfg.kernel_sizes) for a, b in pairwise(widths)
        ])
        self.pool = GlobalAvgPool()
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(widths[-1], num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, widths[-1]): time-pooled output of the last block."""
        return self.pool(self.blocks(x.transpose(1, 2)))


@register_model("resnet1d", ResNet1dConfig)
def build_resnet1d(in_channels: int, num_classes: int, window: int, cfg: ResNet1dConfig) -> ResNet1d:
    """Wang et al. 2017 ResNet: 3 blocks (64, 128, 128) of k8/k5/k3 convs, GAP, linear."""
    return ResNet1d(in_channels, num_classes, cfg)
