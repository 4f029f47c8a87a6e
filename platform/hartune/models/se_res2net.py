"""SE-Res2Net, 1-D: Res2Net bottlenecks with a squeeze-and-excitation gate (an SE-Res2Net row of the
USAD paper's comparison tables).

References:
    Res2Net: Gao, Cheng, Zhao, Zhang, Yang, Torr, "Res2Net: A New Multi-scale Backbone
        Architecture", TPAMI 2021, Fig. 2 and §3.3 ("integration with modern modules": SE).
    SE: Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018.

Res2Net block of scale s on (B, C, T):

    1x1 conv C -> s*w, BN, ReLU; split into x_1..x_s of w channels
    y_1 = K_1(x_1); y_i = K_i(x_i + y_{i-1}) for 1 < i < s; y_s = x_s      (K_i: conv k3, BN, ReLU)
    concat(y_1..y_s) -> 1x1 conv s*w -> C, BN -> SE gate -> + x -> ReLU

As in the official Res2Net code, the split that passes through untouched is the last one.
Layout: each stage is a strided 3-tap ConvBNAct to its width, then ``blocks_per_stage`` blocks;
widths 64, 128, 256; global average pooling; dropout; linear.

Departures: Res2Net downsamples inside a "stage" block (strided split convs without the
hierarchical sum, the last split average-pooled); we downsample with a strided conv before the
blocks, so every block has the same hierarchical form. The inner width is ``inner_ratio`` of the
block width (Res2Net's ``baseWidth``/``scale`` arithmetic is for 2-D ImageNet widths).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field, PositiveInt
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import ConvBNAct, GlobalAvgPool, SqueezeExcite, strided_stages


class SERes2NetConfig(ModelConfig):
    widths: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (64, 128, 256)
    blocks_per_stage: PositiveInt = 1
    scale: int = Field(4, ge=2)  # s, Res2Net's default
    inner_ratio: float = Field(0.5, gt=0.0, le=1.0)  # s*w / C inside the bottleneck
    kernel_size: PositiveInt = 3
    stride: PositiveInt = 2  # of each stage's opening conv: 100 -> 50 -> 25 -> 13
    se_reduction: PositiveInt = 16  # Hu et al.'s r
    dropout: float = Field(0.2, ge=0.0, lt=1.0)


class Res2NetBlock(nn.Module):
    """One SE-Res2Net bottleneck; see the module docstring for the equations."""

    def __init__(self, channels: int, scale: int, inner_ratio: float, kernel_size: int, se_reduction: int) -> None:
        super().__init__()
        width = max(1, round(channels * inner_ratio / scale))  # w, channels of one split
        self.scale = scale
        self.reduce = ConvBNAct(channels, width * scale, 1)
        self.convs = nn.ModuleList(ConvBNAct(width, width, kernel_size) for _ in range(scale - 1))
        self.expand = nn.Sequential(nn.Conv1d(width * scale, channels, 1, bias=False), nn.BatchNorm1d(channels))
        self.se = SqueezeExcite(channels, se_reduction)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        splits = self.reduce(x).chunk(self.scale, dim=1)  # s x (B, w, T)
        ys, y = [], None
        for conv, xi in zip(self.convs, splits):
            y = conv(xi if y is None else xi + y)  # y_i = K_i(x_i + y_{i-1})
            ys.append(y)
        ys.append(splits[-1])  # the last split passes through
        return self.act(x + self.se(self.expand(torch.cat(ys, dim=1))))


class SERes2Net(HARClassifier):
    """Stages of [strided ConvBNAct, SE-Res2Net blocks], GAP, dropout, linear."""

    def __init__(self, in_channels: int, num_classes: int, cfg: SERes2NetConfig) -> None:
        super().__init__()
        self.stages = strided_stages(
            in_channels, cfg.widths, cfg.stride,
            lambda w: Res2NetBlock(w, cfg.scale, cfg.inner_ratio, cfg.kernel_size, cfg.se_reduction),
            cfg.blocks_per_stage,
        )
        self.pool = GlobalAvgPool()
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.widths[-1], num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, widths[-1]): time-pooled output of the last stage."""
        return self.pool(self.stages(x.transpose(1, 2)))


@register_model("se_res2net", SERes2NetConfig)
def build_se_res2net(in_channels: int, num_classes: int, window: int, cfg: SERes2NetConfig) -> SERes2Net:
    """SE-Res2Net (Gao et al. 2021 + Hu et al. 2018), 1-D: widths 64/128/256, scale 4."""
    return SERes2Net(in_channels, num_classes, cfg)
