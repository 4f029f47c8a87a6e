"""HS-CNN: a CNN of hierarchical-split blocks (seed 000).

Reference:
    Tang, Zhang, Min, He, "Multi-scale Deep Feature Learning for Human Activity Recognition Using
    Wearable Sensors", IEEE TIE 2022. Code: ``yinntag/Multi-scale-deep-feature-learning``
    (``Model/HS_block.py``, ``Model/hs_cnn.py``, ``main.py``).

The reference runs 2-D convs with ``(k, 1)`` kernels on ``(B, F, T, S)``: every conv slides over
time only and shares its weights across the S sensor channels, which meet first in the linear
head. We keep that layout. For input (B, T, S):

    stage i     Conv2d(k=(6,1), stride=(3,1)) -> BN -> ReLU          (B, C_i, T_i, S), C = 64/128/256
                HSBlock(C_i): HierarchicalSplit -> 1x1 conv -> BN -> ReLU
    features    flatten                                               (B, 256 * T_3 * S)
    head        Linear -> logits                                      (B, K)

Hierarchical split (``HierarchicalSplit``) of C channels into s groups x_1..x_s, conv width w:
    x_1 passes through untouched and opens the output;
    y_i = conv-BN-ReLU(x_i ++ carry_{i-1}) for i = 2..s (carry_1 is empty);
    for i < s, y_i is halved: the first w/2 channels are kept (appended to the output), the other
    w/2 are the carry that joins group i+1; the last y_s is kept whole.
    Output width C/s + (s-2) w/2 + w, e.g. 16 + 14 + 14 + 28 = 72 for C=64, s=4, w=28, then the
    1x1 fusion maps it back to C.

Departures from the reference:
    * Stage padding 2 instead of 1 (171 -> 57 -> 19 -> 6 time steps instead of 56 -> 18 -> 5), so
      that three stride-3 stages still leave one step of a 16-sample window; with padding 1 the
      window must be >= 40. ``stage_padding=1`` restores the reference for such windows.
    * No LayerNorm after the head: the reference builds a fresh, untrained ``nn.LayerNorm`` on the
      logits inside ``forward``, a quirk that only rescales the logits.
    * Channel counts must divide by s (the reference gives the last chunk the remainder).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

import torch
from pydantic import Field, PositiveInt, ValidationInfo, field_validator
from torch import nn

from hartune.knobs import OddInt
from hartune.models.base import HARClassifier, ModelConfig, ModelConfigError, register_model


class HSCNNConfig(ModelConfig):
    split: int = Field(4, ge=2)  # s; the reference's HS-CNN uses 4 (its residual variant 6)
    channels: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (64, 128, 256)  # one per stage
    width: PositiveInt = 28  # w, the reference's ``basic_channel``; halved at each split, so even
    hs_kernel_size: OddInt = 3  # the (3, 1) conv inside the block
    stage_kernel_size: PositiveInt = 6
    stage_stride: PositiveInt = 3
    stage_padding: int = Field(2, ge=0)  # reference: 1 (see the module docstring)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # the reference has none

    @field_validator("width")
    @classmethod
    def _even_width(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"width must be even (each split output is halved), got {v}")
        return v

    @field_validator("channels")
    @classmethod
    def _divisible(cls, v: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        s = info.data.get("split", 1)
        if any(c % s for c in v):
            raise ValueError(f"every channel count must be divisible by split={s}, got {v}")
        return v


def _bn_relu_conv2d(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """Conv over time only (kernel (k, 1)), shared across sensors -> BN -> ReLU; (B, C, T, S)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, (kernel, 1), stride=(stride, 1), padding=(padding, 0), bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class HierarchicalSplit(nn.Module):
    """The split part of the HS block (reference ``HSBlock``); see the module docstring.

    ``convs[i-1]`` is group i's conv (i = 1..s-1 counting from 0): it reads C/s channels for i = 1
    and C/s + w/2 after that, and always writes w.
    """

    def __init__(self, channels: int, split: int, width: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.split, self.width = split, width
        group = channels // split
        self.convs = nn.ModuleList(
            _bn_relu_conv2d(group + (width // 2 if i > 1 else 0), width, kernel_size, padding=kernel_size // 2)
            for i in range(1, split)
        )
        self.out_channels = group + (split - 2) * (width // 2) + width

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, S)
        groups = x.chunk(self.split, dim=1)  # s tensors of (B, C/s, T, S)
        kept, carry = [groups[0]], groups[0][:, :0]  # x_1 passes through; nothing carried yet
        for conv, g in zip(self.convs, groups[1:]):
            y = conv(torch.cat([g, carry], dim=1))  # (B, w, T, S)
            keep, carry = y[:, : self.width // 2], y[:, self.width // 2 :]
            kept.append(keep)
        kept[-1] = y  # the last group's output is kept whole
        return torch.cat(kept, dim=1)  # (B, C/s + (s-2) w/2 + w, T, S)


class HSBlock(nn.Sequential):
    """HierarchicalSplit -> 1x1 fusion conv back to C -> BN -> ReLU (reference ``hs_cnn``)."""

    def __init__(self, channels: int, split: int, width: int, kernel_size: int = 3) -> None:
        hs = HierarchicalSplit(channels, split, width, kernel_size)
        super().__init__()
        self.split = hs
        self.fuse = _bn_relu_conv2d(hs.out_channels, channels, 1)


def stage_lengths(window: int, cfg: HSCNNConfig) -> list[int]:
    """Time length after each stage's strided conv, starting with the window."""
    lengths = [window]
    for _ in cfg.channels:
        lengths.append((lengths[-1] + 2 * cfg.stage_padding - cfg.stage_kernel_size) // cfg.stage_stride + 1)
    return lengths


class HSCNN(HARClassifier):
    """Stages of [strided (6,1) conv, HS block], then a linear head on the flattened maps."""

    def __init__(self, in_channels: int, num_classes: int, window: int, cfg: HSCNNConfig) -> None:
        super().__init__()
        t_out = stage_lengths(window, cfg)[-1]
        if t_out < 1:
            raise ModelConfigError(
                f"hs_cnn: window={window} leaves {t_out} time steps after {len(cfg.channels)} stages "
                f"(kernel {cfg.stage_kernel_size}, stride {cfg.stage_stride}, padding {cfg.stage_padding}); "
                "use a longer window or a larger stage_padding"
            )
        widths = (1, *cfg.channels)
        self.stages = nn.Sequential(*[
            nn.Sequential(
                _bn_relu_conv2d(c_in, c, cfg.stage_kernel_size, cfg.stage_stride, cfg.stage_padding),
                HSBlock(c, cfg.split, cfg.width, cfg.hs_kernel_size),
            )
            for c_in, c in pairwise(widths)
        ])
        self.head = nn.Sequential(
            nn.Dropout(cfg.dropout), nn.Linear(cfg.channels[-1] * t_out * in_channels, num_classes)
        )
        for m in self.modules():  # the reference's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, S) -> (B, C_last * T_last * S): the flattened maps the reference's head reads."""
        x = self.stages(x.unsqueeze(1))  # (B, 1, T, S) -> (B, C_last, T_last, S)
        return x.flatten(1)


@register_model("hs_cnn", HSCNNConfig)
def build_hs_cnn(in_channels: int, num_classes: int, window: int, cfg: HSCNNConfig) -> HSCNN:
    """HS-CNN (Tang et al. 2022): three stages of 64/128/256 channels, each with an HS block (s=4, w=28)."""
    return HSCNN(in_channels, num_classes, window, cfg)
