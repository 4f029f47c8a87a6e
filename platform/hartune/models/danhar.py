"""DanHAR: a residual CNN with dual (channel + temporal) attention (USAD [28]).

Reference:
    USAD [28]: W. Gao, L. Zhang, Q. Teng, J. He, H. Wu, "DanHAR: Dual Attention Network for
        multimodal human activity recognition using wearable sensors", Applied Soft Computing 111
        (2021) 107728 (arXiv 2006.14435). Code: ``godwenbin/DanHAR`` (PyTorch):
        ``new_wisdom_resnet_attention.py``, ``new_pamap2_resnet_attention.py``.
    The attention modules are CBAM's (Woo et al., ECCV 2018): channel attention from average- and
    max-pooled descriptors through one shared MLP; a "spatial" map from the channel-wise mean and
    max through a 7-tap conv, which DanHAR applies along time ("temporal attention").

Rebuilt from the public code. As there, the window is a one-channel image (B, 1, T, S) and every
conv runs along time only, kernel (k, 1), shared across the S sensor channels, which meet first in
the linear head on the flattened maps. For input (B, T, S):

    block i    h = [Conv(k, 1), stride (s, 1) -> BN -> ReLU -> Conv(3, 1) -> BN -> ReLU](x)
               h = CA(h) * h;  h = TA(h) * h;  out = h + BN(Conv(k, 1), stride (s, 1))(x)
               widths 128, 256, 384                                    (B, W_i, T_i, S)
    CA         σ(MLP(avgpool_{T,S} h) + MLP(maxpool_{T,S} h)), MLP = 1x1 W -> W/16 -> W   (B, W, 1, 1)
    TA         σ(Conv_{7 x 1}([mean_W h; max_W h]))                     (B, 1, T_i, S)
    features   flatten                                                  (B, 384 * T_3 * S)
    head       Dropout -> Linear                                        logits (B, K)

No ReLU after the residual sum (as in the code). Choices and departures:
    * Stage geometry: the WISDM script uses kernel 6, stride 2, no padding; the PAMAP2 script
      kernel 6, stride 3, padding 1. Either leaves nothing of a 16-sample window (16 -> 6 -> 1 ->
      error). We keep kernel 6 and stride 2 (the WISDM script) with padding 2, so three stages take
      16 -> 8 -> 4 -> 2, 30 -> 15 -> 7 -> 3 and 90 -> 45 -> 22 -> 11. ``stage_padding = 0`` is
      the WISDM script.
    * The temporal attention kernel is (7, 1) as in the PAMAP2 script; the WISDM script uses a
      7 x 7 kernel that also mixes neighbouring sensor channels: ``attention_sensor_kernel = 7``.
    * The scripts end with a freshly built, untrained ``nn.LayerNorm`` over the logits inside
      ``forward`` (a quirk that only rescales the logits); we leave it out.
    * Parameters (``count_parameters``): 2.37M on WISDM shapes (90 x 3, 6 classes) against 2.35e6
      in USAD Table 5 (+1%); 4.64M on OPPORTUNITY shapes (30 x 113, 18 classes) against 4.46e6
      (+4%). The body does not depend on S; the flattened head (384 * T_3 * S * K) does.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

import torch
from pydantic import Field, PositiveInt
from torch import nn

from hartune.knobs import OddInt
from hartune.models.base import HARClassifier, ModelConfig, ModelConfigError, register_model
from hartune.models.layers import conv_length


class DanHARConfig(ModelConfig):
    widths: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (128, 256, 384)
    stage_kernel_size: PositiveInt = 6
    stage_stride: PositiveInt = 2
    stage_padding: int = Field(2, ge=0)  # the WISDM script: 0 (see the module docstring)
    reduction: PositiveInt = 16  # CBAM's channel-attention ratio
    attention_kernel_size: OddInt = 7  # along time
    attention_sensor_kernel: OddInt = 1  # 1: the PAMAP2 script's (7, 1); 7: the WISDM script's 7 x 7
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # the code has none


class ChannelAttention2d(nn.Module):
    """CBAM channel attention: (B, W, T, S) -> (B, W, 1, 1) weights in (0, 1)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        inter = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, inter, 1, bias=False), nn.ReLU(), nn.Conv2d(inter, channels, 1, bias=False)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, W, T, S)
        avg = h.mean(dim=(2, 3), keepdim=True)  # (B, W, 1, 1)
        mx = h.amax(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.mlp(avg) + self.mlp(mx))


class TemporalAttention2d(nn.Module):
    """CBAM spatial attention along time: (B, W, T, S) -> (B, 1, T, S) weights in (0, 1)."""

    def __init__(self, kernel_size: int, sensor_kernel: int) -> None:
        super().__init__()
        k = (kernel_size, sensor_kernel)
        self.conv = nn.Conv2d(2, 1, k, padding=(kernel_size // 2, sensor_kernel // 2), bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, W, T, S)
        desc = torch.cat([h.mean(dim=1, keepdim=True), h.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, T, S)
        return torch.sigmoid(self.conv(desc))


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
    """Conv (kernel, 1) over time, shared across sensors -> BN; (B, C, T, S)."""
    return [nn.Conv2d(c_in, c_out, (kernel, 1), stride=(stride, 1), padding=(padding, 0)), nn.BatchNorm2d(c_out)]


class DualAttentionBlock(nn.Module):
    """Residual block whose body output is re-weighted by channel, then temporal attention."""

    def __init__(self, c_in: int, c_out: int, cfg: DanHARConfig) -> None:
        super().__init__()
        k, s, p = cfg.stage_kernel_size, cfg.stage_stride, cfg.stage_padding
        self.body = nn.Sequential(
            *_conv_bn(c_in, c_out, k, s, p), nn.ReLU(), *_conv_bn(c_out, c_out, 3, 1, 1), nn.ReLU()
        )
        self.shortcut = nn.Sequential(*_conv_bn(c_in, c_out, k, s, p))
        self.channel_attention = ChannelAttention2d(c_out, cfg.reduction)
        self.temporal_attention = TemporalAttention2d(cfg.attention_kernel_size, cfg.attention_sensor_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T, S)
        h = self.body(x)  # (B, C_out, T', S)
        h = self.channel_attention(h) * h
        h = self.temporal_attention(h) * h
        return h + self.shortcut(x)


class DanHAR(HARClassifier):
    """Three dual-attention residual blocks on (B, 1, T, S), flatten, linear."""

    def __init__(self, in_channels: int, num_classes: int, window: int, cfg: DanHARConfig) -> None:
        super().__init__()
        t = window
        for _ in cfg.widths:
            t = conv_length(t, cfg.stage_kernel_size, cfg.stage_stride, cfg.stage_padding)
        if t < 1:
            raise ModelConfigError(
                f"danhar: window={window} leaves {t} time steps after {len(cfg.widths)} stages (kernel "
                f"{cfg.stage_kernel_size}, stride {cfg.stage_stride}, padding {cfg.stage_padding}); "
                "use a longer window or a larger stage_padding"
            )
        widths = (1, *cfg.widths)
        self.blocks = nn.Sequential(*[DualAttentionBlock(a, b, cfg) for a, b in pairwise(widths)])
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(widths[-1] * t * in_channels, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, S) -> (B, W_3 * T_3 * S): the flattened maps the code's linear layer reads."""
        return self.blocks(x.unsqueeze(1)).flatten(1)  # (B, 1, T, S) -> (B, W, T_3, S) -> flat


@register_model("danhar", DanHARConfig)
def build_danhar(in_channels: int, num_classes: int, window: int, cfg: DanHARConfig) -> DanHAR:
    """DanHAR (Gao et al. 2021): residual blocks 128/256/384 with channel and temporal attention."""
    return DanHAR(in_channels, num_classes, window, cfg)
