"""The plain 1-D CNN: the "CNN" baseline row of the USAD paper, and the classifier of its §3.1.3.

USAD §3.1.3 (seed 001, line ~71): "three 1D convolutional blocks (kernel size = 5, stride = 2,
channels = 64, GeLU activation), a global average pooling layer, two fully connected layers
(128 units, Dropout=0.3), and a Softmax output layer". We read "two fully connected layers" as
FC(128) followed by the output layer, and leave the softmax to the loss (it takes logits).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field, PositiveInt
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import ConvBNAct, GlobalAvgPool


class CNNConfig(ModelConfig):
    # One entry per conv block; the paper uses three blocks of 64.
    channels: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (64, 64, 64)
    kernel_size: PositiveInt = 5
    # Stride 2 per block halves time three times (100 -> 13); any window >= 1 still works since
    # padded strided convs never shrink T below 1.
    stride: PositiveInt = 2
    hidden: PositiveInt = 128
    dropout: float = Field(0.3, ge=0.0, lt=1.0)


class CNN(HARClassifier):
    """Conv-BN-GELU blocks -> global average pool -> FC(hidden)+GELU -> dropout -> linear."""

    def __init__(self, in_channels: int, num_classes: int, cfg: CNNConfig) -> None:
        super().__init__()
        widths = (in_channels, *cfg.channels)
        self.blocks = nn.Sequential(*[
            ConvBNAct(c_in, c_out, cfg.kernel_size, stride=cfg.stride, act=nn.GELU)
            for c_in, c_out in zip(widths[:-1], widths[1:])
        ])
        self.pool = GlobalAvgPool()
        self.fc = nn.Sequential(nn.Linear(widths[-1], cfg.hidden), nn.GELU())
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, hidden): the FC(128) activations, the paper's penultimate layer."""
        x = self.blocks(x.transpose(1, 2))  # (B, C', T')
        return self.fc(self.pool(x))  # (B, hidden)


@register_model("cnn", CNNConfig)
def build_cnn(in_channels: int, num_classes: int, window: int, cfg: CNNConfig) -> CNN:
    """USAD's plain CNN baseline (§3.1.3): 3 x [conv k5 s2 64, BN, GELU], GAP, FC128, dropout 0.3."""
    return CNN(in_channels, num_classes, cfg)
