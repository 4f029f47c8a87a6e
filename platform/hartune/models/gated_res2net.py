"""Gated Res2Net (USAD [23]) and MAG-Res2Net (USAD [25]): Res2Net bottlenecks whose hierarchical
connections pass through a learned gate.

References:
    USAD [23]: C. Yang, M. Jiang, Z. Guo, Y. Liu, "Gated Res2Net for multivariate time series
        analysis", IJCNN 2020, pp. 1-7 (arXiv 2009.11705).
    USAD [25]: H. Liu, B. Zhao, C. Dai, B. Sun, A. Li, Z. Wang, "MAG-Res2Net: a novel deep learning
        network for human activity recognition", Physiological Measurement 44(11) (2023) 115007.
        Code: ``LHY1007/MAG-Res2Net:final_model.ipynb`` (PyTorch; ``GatedRes2NetBottleneck``,
        ``GatedFCN``, ``EfficientChannelAttention``, ``g1``).
    Res2Net: Gao et al., TPAMI 2021. ECA: Wang et al., "ECA-Net", CVPR 2020. SE: Hu et al., CVPR 2018.

Rebuilt from public code: MAG-Res2Net's notebook above, which contains the gated bottleneck, and
an identical ``GatedFCN`` with an ``se`` flag in a public file we could not attribute to a
repository (the same network, with ``[3, 2, 1, 1]`` blocks and the comment ``#GATE``, sits in a
training script for OPPORTUNITY that looks like the USAD authors' own). The IJCNN paper itself
was not readable; its abstract says the gate "is computed from the original feature map, the
previous output feature map and the next input feature map", which is what the code does.

Gated bottleneck (planes p, scale s, width w = p/s), on (B, C, T):

    u = ReLU(BN(1x1 conv C -> p, stride)); split u into x_1..x_s of w channels
    y_1 = x_1                                         (the first split passes through)
    y_2 = K_2(x_2)
    g_i = tanh(1x1 conv([u, x_i, y_{i-1}]) -> w)      gate in (-1, 1), per channel and step, i >= 3
    y_i = K_i(x_i + g_i * y_{i-1})                     K_i: conv k3 -> BN -> ReLU
    concat(y_1..y_s) -> 1x1 conv -> 4p -> BN -> attention -> + shortcut -> ReLU

    attention: none (Gated Res2Net), SE, or ECA (MAG-Res2Net). With ECA the released code *adds*
    the sigmoid weights, ``out + σ(ECA(out))``, instead of multiplying as ECA-Net does;
    ``eca_mode`` keeps the code's "add" by default and offers "multiply".

Network (``GatedFCN``): a 1x1 conv C -> s*8 channels (no BN, no activation), four stages of gated
bottlenecks with planes 32, 64, 128, 256 (stride 1, 2, 2, 2; the stride sits on the first 1x1
conv, as in the code), global average pooling, a bias-free linear map to the classes.

Choices and departures:
    * Blocks per stage. Gated Res2Net: (3, 2, 1, 1), the configuration of the (apparently USAD
      authors') OPPORTUNITY script; it measures 1.40M parameters on WISDM shapes against 1.60e6
      in USAD Table 5 (-12%; 1.42M on OPPORTUNITY shapes against 1.61e6); the depth that the
      IJCNN paper used is not known to us. MAG-Res2Net: (2, 3, 4, 1), the code's ``g1`` that its
      notebook trains (1.89M and 1.91M parameters; it is not in Table 5).
    * MAG-Res2Net's dropout (p = 0.4): the code calls ``F.dropout`` (active even in eval) after
      the stem and after each of the four stages, but assigns the last two results to a dead
      variable, so it acts after the stem and stages 1 and 2 only. We use ``nn.Dropout`` (off in eval) at those
      three places (``dropout_stages = 2``).
    * MAG-Res2Net's other parts are training-side and not in this module: Borderline-SMOTE
      up-sampling, the Lion optimiser and the centre-loss term (its notebook trains with weight 0).
    * Conv1d throughout, as the code. The head is ``Linear`` without bias (the code's 1x1 conv).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field, PositiveInt, ValidationInfo, field_validator
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import ConvBNAct, GlobalAvgPool, SqueezeExcite


class GatedRes2NetConfig(ModelConfig):
    blocks: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (3, 2, 1, 1)  # per stage
    scales: int = Field(4, ge=3)  # s; the gate needs a third split
    base_planes: PositiveInt = 32  # planes of stage 1 (the code's width 8 * scales 4), doubling per stage
    expansion: PositiveInt = 4
    attention: Literal["none", "se", "eca"] = "none"
    eca_mode: Literal["add", "multiply"] = "add"  # "add" is the released MAG-Res2Net code
    se_reduction: PositiveInt = 16
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    dropout_stages: int = Field(2, ge=0)  # dropout after the stem and this many leading stages

    @field_validator("base_planes")
    @classmethod
    def _divisible(cls, v: int, info: ValidationInfo) -> int:
        s = info.data.get("scales", 1)
        if v % s:
            raise ValueError(f"base_planes must be divisible by scales={s}, got {v}")
        return v


def eca_kernel_size(channels: int, b: int = 1, gamma: int = 2) -> int:
    """ECA-Net's adaptive kernel: the odd number nearest |(log2 C + b) / gamma| (rounded up)."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class EfficientChannelAttention(nn.Module):
    """σ(conv_k over the channel axis of mean_t x): (B, C, T) -> (B, C, 1) weights (Wang et al. 2020)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        s = x.mean(dim=-1, keepdim=True)  # (B, C, 1)
        return torch.sigmoid(self.conv(s.transpose(1, 2)).transpose(1, 2))  # (B, C, 1)


class AddECA(EfficientChannelAttention):
    """x + σ(ECA(x)): the released MAG-Res2Net code's form."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)


class MultiplyECA(EfficientChannelAttention):
    """x * σ(ECA(x)): ECA-Net's form."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * super().forward(x)


def _attention(channels: int, cfg: GatedRes2NetConfig) -> nn.Module:
    if cfg.attention == "se":
        return SqueezeExcite(channels, cfg.se_reduction)
    if cfg.attention == "eca":
        return AddECA(channels) if cfg.eca_mode == "add" else MultiplyECA(channels)
    return nn.Identity()


class GatedSplits(nn.Module):
    """The gated hierarchical part of the block: u (B, p, T) -> concat(y_1..y_s) (B, p, T).

    ``gates[i]`` makes the gate of split i + 3 (counting from 1) from [u, x_i, y_{i-1}].
    """

    def __init__(self, planes: int, scales: int) -> None:
        super().__init__()
        w = planes // scales
        self.scales = scales
        self.convs = nn.ModuleList(ConvBNAct(w, w, 3) for _ in range(scales - 1))
        self.gates = nn.ModuleList(
            nn.Sequential(nn.Conv1d(planes + 2 * w, w, 1, bias=False), nn.Tanh()) for _ in range(scales - 2)
        )

    def forward(self, u: torch.Tensor) -> torch.Tensor:  # (B, p, T)
        xs = u.chunk(self.scales, dim=1)  # s x (B, w, T)
        ys = [xs[0], self.convs[0](xs[1])]
        for conv, gate, xi in zip(self.convs[1:], self.gates, xs[2:]):
            g = gate(torch.cat([u, xi, ys[-1]], dim=1))  # (B, w, T), in (-1, 1)
            ys.append(conv(xi + g * ys[-1]))
        return torch.cat(ys, dim=1)  # (B, p, T)


class GatedRes2NetBottleneck(nn.Module):
    """1x1 (strided) -> gated splits -> 1x1 expand + BN -> attention, + shortcut, ReLU."""

    def __init__(self, c_in: int, planes: int, stride: int, cfg: GatedRes2NetConfig) -> None:
        super().__init__()
        c_out = planes * cfg.expansion
        self.reduce = ConvBNAct(c_in, planes, 1, stride=stride)
        self.splits = GatedSplits(planes, cfg.scales)
        self.expand = ConvBNAct(planes, c_out, 1, act=nn.Identity)
        self.attention = _attention(c_out, cfg)
        self.shortcut = (
            ConvBNAct(c_in, c_out, 1, stride=stride, act=nn.Identity)
            if stride != 1 or c_in != c_out else nn.Identity()
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T)
        y = self.attention(self.expand(self.splits(self.reduce(x))))  # (B, 4p, T/stride)
        return self.act(y + self.shortcut(x))


class GatedRes2Net(HARClassifier):
    """``GatedFCN``: 1x1 stem, gated bottleneck stages (dropout after the leading ones), GAP, linear."""

    def __init__(self, in_channels: int, num_classes: int, cfg: GatedRes2NetConfig) -> None:
        super().__init__()
        self.stem = nn.Conv1d(in_channels, cfg.base_planes, 1, bias=False)
        stages, prev = [nn.Dropout(cfg.dropout)], cfg.base_planes  # dropout after the stem
        for i, n in enumerate(cfg.blocks):
            planes = cfg.base_planes * 2**i
            blocks = []
            for j in range(n):
                blocks.append(GatedRes2NetBottleneck(prev, planes, 2 if i > 0 and j == 0 else 1, cfg))
                prev = planes * cfg.expansion
            drop = nn.Dropout(cfg.dropout) if i < cfg.dropout_stages else nn.Identity()
            stages.append(nn.Sequential(*blocks, drop))
        self.stages = nn.Sequential(*stages)
        self.pool = GlobalAvgPool()
        self.head = nn.Linear(prev, num_classes, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, base_planes * 2**(n-1) * expansion): time-pooled last stage (1024 by default)."""
        return self.pool(self.stages(self.stem(x.transpose(1, 2))))


@register_model("gated_res2net", GatedRes2NetConfig)
@register_model(
    "mag_res2net", GatedRes2NetConfig, blocks=(2, 3, 4, 1), attention="eca", dropout=0.4, dropout_stages=2
)
def build_gated_res2net(in_channels: int, num_classes: int, window: int, cfg: GatedRes2NetConfig) -> GatedRes2Net:
    """Gated Res2Net (Yang et al. 2020; blocks 3/2/1/1) and MAG-Res2Net (Liu et al. 2023: blocks
    2/3/4/1, ECA after every bottleneck, dropout 0.4 after the stem and stages 1-2)."""
    return GatedRes2Net(in_channels, num_classes, cfg)
