"""A lightweight large-kernel CNN ("elk"): depthwise large kernels made trainable by a parallel small
kernel that is merged into the large one after training (structural re-parameterisation).

References:
    Yao, Zhang, Cheng, Qin, Liu, Fu, Wu, Song, "Revisiting Large-Kernel CNN Design via Structural
        Re-Parameterization for Sensor-Based Human Activity Recognition", IEEE Sensors J. 2024: the
        HAR large-kernel recipe (identity shortcuts + re-parameterised large kernels). That this is
        the "ELK" row of the USAD paper's tables is our reading, not verified.
    RepLKNet: Ding, Zhang, Han, Ding, "Scaling Up Your Kernels to 31x31", CVPR 2022: the block
        (depthwise large kernel + parallel small kernel, each with BN, summed; fused for inference).

Layout, for input (B, T, C):

    stage i    ConvBNAct(k3, stride 2) to width W_i                            (B, W_i, T_i)
               ``blocks_per_stage`` x LargeKernelBlock:
                 x + BN(1x1(ReLU(dw_k31(x) + dw_k5(x))))  -> ReLU
    pool       mean over time                                  features (B, W_last)
    head       Dropout -> Linear                               logits   (B, K)

``ELKNet.reparameterize()`` folds each branch's BN into its conv and adds the zero-padded small
kernel to the large one, leaving one depthwise conv per block; eval-mode outputs are unchanged
(checked in ``tests/models/test_lightweight.py``). Profile the re-parameterised model for latency.

Departures: widths (32, 64) and one block per stage keep the model small; the papers' depths,
widths and kernel sizes are for larger inputs and are not copied. No convolutional FFN after the
large-kernel block (RepLKNet has one) to keep it light.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt, ValidationInfo, field_validator
from torch import nn

from hartune.knobs import OddInt
from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import GlobalAvgPool, strided_stages


class ELKConfig(ModelConfig):
    widths: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (32, 64)
    blocks_per_stage: PositiveInt = 1
    kernel_size: OddInt = 31  # RepLKNet's largest; 'same' padding, so shorter windows still work
    small_kernel_size: OddInt = 5  # RepLKNet's parallel small kernel; odd, so it centres in the large
    stride: PositiveInt = 2
    dropout: float = Field(0.2, ge=0.0, lt=1.0)

    @field_validator("small_kernel_size")
    @classmethod
    def _small_fits(cls, v: int, info: ValidationInfo) -> int:
        if v > info.data.get("kernel_size", v):
            raise ValueError(f"small_kernel_size must not exceed kernel_size, got {v}")
        return v


def _dw_conv_bn(channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False),
        nn.BatchNorm1d(channels),
    )


def _fold_bn(branch: nn.Sequential, kernel_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv + eval BN of ``branch`` as one conv: (weight zero-padded to ``kernel_size``, bias)."""
    conv, bn = branch[0], branch[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C,)
    pad = (kernel_size - conv.kernel_size[0]) // 2
    weight = F.pad(conv.weight * scale[:, None, None], (pad, pad))  # (C, 1, k_large)
    return weight, bn.bias - bn.running_mean * scale


class ReparamLargeKernelConv(nn.Module):
    """dw_large(x) + dw_small(x), each a depthwise conv with BN; ``fuse`` merges them into one conv."""

    def __init__(self, channels: int, kernel_size: int, small_kernel_size: int) -> None:
        super().__init__()
        self.large = _dw_conv_bn(channels, kernel_size)
        self.small = _dw_conv_bn(channels, small_kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return self.large(x) + self.small(x)

    @torch.no_grad()
    def fuse(self) -> nn.Conv1d:
        """One depthwise conv with bias equal to this module in eval mode (RepLKNet §3)."""
        conv = self.large[0]
        k = conv.kernel_size[0]
        (w_l, b_l), (w_s, b_s) = _fold_bn(self.large, k), _fold_bn(self.small, k)
        fused = nn.Conv1d(conv.in_channels, conv.out_channels, k, padding=k // 2, groups=conv.groups)
        fused.weight.copy_(w_l + w_s)
        fused.bias.copy_(b_l + b_s)
        return fused


class LargeKernelBlock(nn.Module):
    """x + BN(pointwise(ReLU(large-kernel depthwise(x)))), then ReLU: identity shortcut around the large kernel."""

    def __init__(self, channels: int, kernel_size: int, small_kernel_size: int) -> None:
        super().__init__()
        self.mixer = ReparamLargeKernelConv(channels, kernel_size, small_kernel_size)
        self.pointwise = nn.Sequential(
            nn.ReLU(), nn.Conv1d(channels, channels, 1, bias=False), nn.BatchNorm1d(channels)
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return self.act(x + self.pointwise(self.mixer(x)))


class ELKNet(HARClassifier):
    """Stages of [strided ConvBNAct, large-kernel blocks], GAP, dropout, linear."""

    def __init__(self, in_channels: int, num_classes: int, cfg: ELKConfig) -> None:
        super().__init__()
        self.stages = strided_stages(
            in_channels, cfg.widths, cfg.stride,
            lambda w: LargeKernelBlock(w, cfg.kernel_size, cfg.small_kernel_size), cfg.blocks_per_stage,
        )
        self.pool = GlobalAvgPool()
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.widths[-1], num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, widths[-1]): time-pooled output of the last stage."""
        return self.pool(self.stages(x.transpose(1, 2)))

    def reparameterize(self) -> ELKNet:
        """Replace every two-branch large-kernel conv by its fused single conv, in place; eval only."""
        for block in [m for m in self.modules() if isinstance(m, LargeKernelBlock)]:
            block.mixer = block.mixer.fuse()
        return self


@register_model("elk", ELKConfig)
def build_elk(in_channels: int, num_classes: int, window: int, cfg: ELKConfig) -> ELKNet:
    """Lightweight large-kernel CNN: widths 32/64, depthwise k31 + k5 (re-parameterisable), GAP, linear."""
    return ELKNet(in_channels, num_classes, cfg)
