"""HAR-CE: a light CNN whose last feature map is "channel-equalised" (USAD [26]).

Reference:
    USAD [26]: W. Huang, L. Zhang, H. Wu, F. Min, A. Song, "Channel-Equalization-HAR: a
        light-weight convolutional neural network for wearable sensor based human activity
        recognition", IEEE Transactions on Mobile Computing 22(9) (2023) 5064-5077,
        doi:10.1109/TMC.2022.3174816. Code: ``wenbohuang1002/Channel-Equalization-HAR``
        (``CE_block.py``: ``CE`` and ``AdaptiveReweight``; ``cnn.py``: ``WISDM_CE``,
        ``OPPORTUNITY_CE``, ...). The whitening is IterNorm's (Huang et al., CVPR 2019).

Rebuilt from the public code. The window is a one-channel image (B, 1, T, S); the convs are 2-D
and, unlike most HAR CNNs here, mix neighbouring sensor channels too. For input (B, T, S):

    block 1, 2   Conv(kt x ks, 'same') -> BN -> ReLU -> MaxPool(pt x ps)
    block 3      Conv(kt x ks, 'same') -> BN -> MaxPool(pt x ps) -> CE      (no ReLU before CE)
    features     flatten                                    (B, W_3 * T_3 * S_3)
    head         Linear                                     logits (B, K)

Channel equalisation (``ChannelEqualization``) of a map X with C channels and m = B*T*S positions:
    whitening   Σ = εI + (1/m) Xc Xcᵀ (Xc: X centred per channel), Σ_N = Σ / tr Σ,
                P_0 = I, P_{k+1} = 1.5 P_k - 0.5 P_k³ Σ_N (Newton-Schulz, T steps) -> P_T ≈ Σ_N^{-1/2},
                X_w = P_T X: decorrelated channels of equal variance (cov X_w ≈ tr Σ · I);
                eval uses running averages of P_T. T = 3 only roughly halves the correlations;
                many more steps diverge on ill-conditioned maps (this uncoupled iteration is
                stable only for condition numbers below about 9), which is why T stays small.
    reweight    v = var over (T, S) per sample and channel; a = σ(FC(ReLU(LN(FC(v))))) (C -> C/4 -> C);
                X_r = X · a / sqrt(mean v), the scale a running average in eval.
    mix         out = σ(λ) X_w + (1 - σ(λ)) X_r, λ a learned scalar (starts at 0: half and half).

Per-dataset variants, as in the code (the USAD Table 5 counts match these): ``har_ce`` is the
WISDM network (kernel 3 x 3, pooling 3 x 1, widths 64/128/256): 0.42M parameters on WISDM shapes
against 4.17e5; ``har_ce_opportunity`` is the OPPORTUNITY network (kernel 9 x 5, pooling 3 x 3,
widths 64/128/512): 3.55M on OPPORTUNITY shapes against 3.49e6. Table 5's 8x growth comes from
these two different networks, not from CE scaling with the channel count.

Departures from the code, each a knob where it matters:
    * ``momentum`` 0.1 (IterNorm's). The code passes ``momentum=0``, so its running whitening
      matrix stays the identity and in eval the whitening branch is skipped (X_w = X).
    * ``center=False`` keeps the code's ``P_T X`` on the *uncentred* map (its running mean is kept
      but unused); ``center=True`` is IterNorm's ``P_T Xc``.
    * IterNorm rescales P_T by sqrt(1 / tr Σ); the code does not, and neither do we.
    * The running scale of the reweighting starts at 1, not 0 (the code's 0 divides by zero in
      eval before any training step); the variance is the population variance (the code's
      unbiased one is NaN when T_3 * S_3 = 1, e.g. a 16 x 1 window).
    * Pooling rounds up (``ceil_mode``), so three 3-fold poolings leave 1 step of a 16-sample
      window (16 -> 6 -> 2 -> 1); ``ceil_pool=False`` is the code's floor (windows >= 27).
    * Some scripts end with an untrained ``nn.LayerNorm`` or ``F.normalize`` on the logits; left out.
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


class HARCEConfig(ModelConfig):
    widths: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (64, 128, 256)
    kernel_size: tuple[OddInt, OddInt] = (3, 3)  # (time, sensor)
    pool: tuple[PositiveInt, PositiveInt] = (3, 1)  # (time, sensor)
    ceil_pool: bool = True  # the code: False (see the module docstring)
    iterations: PositiveInt = 3  # T, Newton-Schulz steps
    eps: float = Field(1e-5, gt=0.0)
    momentum: float = Field(0.1, ge=0.0, le=1.0)  # the code: 0 (see the module docstring)
    center: bool = False  # the code whitens the uncentred map
    reweight_reduction: PositiveInt = 4


class IterativeWhitening(nn.Module):
    """P_T X with P_T ≈ (Σ / tr Σ)^{-1/2} by Newton-Schulz (the CE block's whitening branch).

    Works on (B, C, H, W) over all B*H*W positions (one group of C channels, as the code uses).
    """

    def __init__(self, channels: int, iterations: int, eps: float, momentum: float, center: bool) -> None:
        super().__init__()
        self.iterations, self.eps, self.momentum, self.center = iterations, eps, momentum, center
        self.register_buffer("running_mean", torch.zeros(channels, 1))
        self.register_buffer("running_wm", torch.eye(channels))

    def whitening_matrix(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(C, m) -> (P_T (C, C), mean (C, 1)) from the batch."""
        c, m = x.shape
        mean = x.mean(dim=1, keepdim=True)
        xc = x - mean
        eye = torch.eye(c, device=x.device, dtype=x.dtype)
        sigma = self.eps * eye + xc @ xc.T / m  # (C, C)
        sigma_n = sigma / sigma.diagonal().sum()
        p = eye
        for _ in range(self.iterations):
            p = 1.5 * p - 0.5 * p @ p @ p @ sigma_n
        return p, mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        b, c, h, w = x.shape
        flat = x.transpose(0, 1).reshape(c, -1)  # (C, m)
        if self.training:
            wm, mean = self.whitening_matrix(flat)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_wm.lerp_(wm, self.momentum)
        else:
            wm, mean = self.running_wm, self.running_mean
        out = wm @ (flat - mean if self.center else flat)  # (C, m)
        return out.reshape(c, b, h, w).transpose(0, 1)


class AdaptiveReweight(nn.Module):
    """x · σ(FC(ReLU(LN(FC(var x))))) / sqrt(mean var x): a variance-driven channel gate."""

    def __init__(self, channels: int, reduction: int, momentum: float = 0.1) -> None:
        super().__init__()
        inter = max(channels // reduction, 1)
        self.fc = nn.Sequential(
            nn.Linear(channels, inter, bias=False), nn.LayerNorm(inter), nn.ReLU(),
            nn.Linear(inter, channels, bias=False), nn.Sigmoid(),
        )
        self.momentum = momentum  # the code's AdaptiveReweight keeps its own default of 0.1
        self.register_buffer("running_scale", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        var = x.flatten(2).var(dim=-1, correction=0)  # (B, C)
        if self.training:
            scale = var.mean().sqrt()
            with torch.no_grad():
                self.running_scale.lerp_(scale, self.momentum)
        else:
            scale = self.running_scale
        return x * (self.fc(var) / scale)[:, :, None, None]


class ChannelEqualization(nn.Module):
    """σ(λ) · whitening(x) + (1 - σ(λ)) · reweight(x), λ learned (the code's ``CE``)."""

    def __init__(self, channels: int, cfg: HARCEConfig) -> None:
        super().__init__()
        self.whiten = IterativeWhitening(channels, cfg.iterations, cfg.eps, cfg.momentum, cfg.center)
        self.reweight = AdaptiveReweight(channels, cfg.reweight_reduction)
        self.mix = nn.Parameter(torch.zeros(1))  # λ

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        a = torch.sigmoid(self.mix)
        return a * self.whiten(x) + (1 - a) * self.reweight(x)


class HARCE(HARClassifier):
    """Two conv-BN-ReLU-pool blocks, a conv-BN-pool block, channel equalisation, flatten, linear."""

    def __init__(self, in_channels: int, num_classes: int, window: int, cfg: HARCEConfig) -> None:
        super().__init__()
        (kt, ks), (pt, ps) = cfg.kernel_size, cfg.pool
        t, s = window, in_channels
        for _ in cfg.widths:
            t, s = conv_length(t, pt, pt, ceil=cfg.ceil_pool), conv_length(s, ps, ps, ceil=cfg.ceil_pool)
        if t < 1 or s < 1:
            raise ModelConfigError(
                f"har_ce: a {window} x {in_channels} window leaves {t} x {s} after {len(cfg.widths)} "
                f"poolings of {pt} x {ps}; use a longer window, a smaller pool or ceil_pool=True"
            )
        widths = (1, *cfg.widths)
        blocks: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(pairwise(widths)):
            last = i == len(cfg.widths) - 1
            blocks += [
                nn.Conv2d(c_in, c_out, (kt, ks), padding=(kt // 2, ks // 2)),
                nn.BatchNorm2d(c_out),
                nn.Identity() if last else nn.ReLU(),
                nn.MaxPool2d((pt, ps), stride=(pt, ps), ceil_mode=cfg.ceil_pool),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.equalize = ChannelEqualization(widths[-1], cfg)
        self.head = nn.Linear(widths[-1] * t * s, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, S) -> (B, W_3 * T_3 * S_3): the flattened equalised map."""
        return self.equalize(self.blocks(x.unsqueeze(1))).flatten(1)


@register_model("har_ce", HARCEConfig)
@register_model("har_ce_opportunity", HARCEConfig, kernel_size=(9, 5), pool=(3, 3), widths=(64, 128, 512))
def build_har_ce(in_channels: int, num_classes: int, window: int, cfg: HARCEConfig) -> HARCE:
    """HAR-CE (Huang et al. 2023): ``har_ce`` is the code's WISDM network, ``har_ce_opportunity``
    its OPPORTUNITY network (9 x 5 kernels, 3 x 3 pooling, widths 64/128/512)."""
    return HARCE(in_channels, num_classes, window, cfg)
