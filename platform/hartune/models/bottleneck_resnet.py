"""Bottleneck ResNets, 1-D: ResNet-50 (USAD Table 6) and ResNeXt-50 32x4d (USAD [22], Tables 3 and 5).

References:
    ResNet: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, Table 1
        (50-layer: bottleneck stages of depth 3, 4, 6, 3; expansion 4).
    ResNeXt: Xie, Girshick, Dollár, Tu, He, "Aggregated Residual Transformations for Deep Neural
        Networks", CVPR 2017, Table 1 (ResNeXt-50 32x4d: cardinality 32, 4 channels per group).
    USAD [22]: S. Mekruksavanich, P. Jantawong, A. Jitpattanakul, "A deep learning-based model for
        human activity recognition using biosensors embedded into a smart knee bandage", Procedia
        Computer Science 214 (2022) 621-627: the ResNeXt row of USAD Tables 3 and 5.
    USAD Table 6 lists "ResNet50" without a reference; we read it as He et al.'s ResNet-50.

Built from the papers' tables (torchvision's layout: the stride sits on the 3-tap conv, the
"ResNet v1.5" choice), not from any HAR code. The text of [22] was not available to us: that the
[22] model is a ResNeXt-50 32x4d is our reading of USAD Table 5, whose 2.20e7 / 2.21e7 parameters
this 1-D network reproduces (22.0M on WISDM shapes, 22.1M on OPPORTUNITY shapes; the 0.07M
difference is the 7-tap stem over 113 instead of 3 channels plus 12 more classes).

Layout, for input (B, T, C):

    stem       Conv(C -> 64, k7, stride 2) -> BN -> ReLU -> MaxPool(k3, stride 2)   (B, 64, T/4)
    stage i    depths[i] bottlenecks, planes 64/128/256/512, the first with stride 2 (i > 0):
                 1x1 conv -> width, k3 conv (groups) -> width, 1x1 conv -> planes*expansion,
                 each with BN (ReLU after the first two), + shortcut, ReLU
               width = planes * width_per_group / 64 * groups
    pool       mean over time                                    features (B, 512*expansion)
    head       Dropout -> Linear                                 logits   (B, K)

Departures from the 2-D originals: Conv2d k x k becomes Conv1d k over time, the sensor channels
are the input channels; there are no pretrained weights. ``dropout`` (default 0, the originals
have none) is a knob. The shortcut is a 1x1 conv + BN where the shape changes (ResNet option B).
Each residual branch's last BN scale starts at 0.1 (``branch_bn_init``, see the config), where
He et al. start it at 1.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field, PositiveInt, ValidationInfo, field_validator
from torch import nn

from hartune.knobs import OddInt
from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import ConvBNAct, GlobalAvgPool


class BottleneckResNetConfig(ModelConfig):
    depths: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (3, 4, 6, 3)  # ResNet-50
    planes: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (64, 128, 256, 512)  # per stage
    expansion: PositiveInt = 4  # output channels = planes * expansion
    groups: PositiveInt = 1  # cardinality of the 3-tap conv; ResNeXt-50 32x4d: 32
    width_per_group: PositiveInt = 64  # ResNeXt-50 32x4d: 4
    kernel_size: OddInt = 3  # the 3x3 conv, as 3 taps
    stem_width: PositiveInt = 64
    stem_kernel_size: OddInt = 7
    # Initial scale of each residual branch's last BN (He et al.: 1). A small value lets every
    # block start close to the identity, as torchvision's ``zero_init_residual`` (Goyal et al.
    # 2017) and LayerScale (Touvron et al. 2021) do, but leaves the branch weights a gradient from
    # the first step. With 1.0 the 50-layer nets fit a tiny batch in train mode but not in eval
    # mode: windows shrink to 1-2 steps in the last stages and the BN running statistics' small
    # errors compound over ~50 BN layers.
    branch_bn_init: float = Field(0.1, ge=0.0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)

    @field_validator("planes")
    @classmethod
    def _one_per_stage(cls, v: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        depths = info.data.get("depths")
        if depths is not None and len(v) != len(depths):
            raise ValueError(f"planes needs one entry per stage ({len(depths)} depths), got {v}")
        return v


class Bottleneck1d(nn.Module):
    """1x1 reduce -> k-tap (grouped, strided) -> 1x1 expand, + shortcut, ReLU (He et al. Fig. 5 right)."""

    def __init__(self, c_in: int, planes: int, stride: int, cfg: BottleneckResNetConfig) -> None:
        super().__init__()
        width = planes * cfg.width_per_group // 64 * cfg.groups
        c_out = planes * cfg.expansion
        self.body = nn.Sequential(
            ConvBNAct(c_in, width, 1),
            ConvBNAct(width, width, cfg.kernel_size, stride=stride, groups=cfg.groups),
            ConvBNAct(width, c_out, 1, act=nn.Identity),
        )
        self.shortcut = (
            ConvBNAct(c_in, c_out, 1, stride=stride, act=nn.Identity)
            if stride != 1 or c_in != c_out else nn.Identity()
        )
        self.act = nn.ReLU()
        nn.init.constant_(self.body[-1][1].weight, cfg.branch_bn_init)  # the expanding 1x1 conv's BN

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T)
        return self.act(self.body(x) + self.shortcut(x))  # (B, planes*expansion, T/stride)


class BottleneckResNet(HARClassifier):
    """Stem, bottleneck stages, global average pooling, linear head."""

    def __init__(self, in_channels: int, num_classes: int, cfg: BottleneckResNetConfig) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvBNAct(in_channels, cfg.stem_width, cfg.stem_kernel_size, stride=2),
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        stages, prev = [], cfg.stem_width
        for i, (depth, planes) in enumerate(zip(cfg.depths, cfg.planes)):
            blocks = []
            for j in range(depth):
                blocks.append(Bottleneck1d(prev, planes, 2 if i > 0 and j == 0 else 1, cfg))
                prev = planes * cfg.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = GlobalAvgPool()
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(prev, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, planes[-1]*expansion): time-pooled output of the last stage."""
        return self.pool(self.stages(self.stem(x.transpose(1, 2))))


@register_model("resnet50", BottleneckResNetConfig)
@register_model("resnext", BottleneckResNetConfig, groups=32, width_per_group=4)
def build_bottleneck_resnet(
    in_channels: int, num_classes: int, window: int, cfg: BottleneckResNetConfig
) -> BottleneckResNet:
    """1-D ResNet-50 (stages 3/4/6/3, expansion 4) and ResNeXt-50 32x4d (the same with cardinality 32)."""
    return BottleneckResNet(in_channels, num_classes, cfg)
