"""The conditional epsilon-predicting 1-D U-Net ``G_theta(x_t, t, f, y)`` (USAD Eqs. 8-10).

Conditioning, and why:

* label ``y`` and timestep ``t``: a learned label embedding ``e_y`` and a sinusoidal ``psi(t)`` feed an
  MLP (Eq. 10) whose output sets the scale and shift of every residual block's group norm (AdaGN, Eq. 9);
* the global statistics (mean, std, skewness per channel, Eq. 1) of the window being generated join
  that MLP's input, so the sample's statistics can be steered;
* the local feature enters as the *class prototype* z-curve (Eq. 4), concatenated to ``x_t`` as extra
  input channels. A window's own z-curve is not used: with its mean and std it gives
  ``x_0 = mu + sigma * z`` exactly, so the network would learn to copy rather than to generate.

The network never sees the noise schedule, only the integer timestep. It pads time to a multiple of
``2^(levels-1)`` and crops back, so any window ``>= 16`` and any channel count work. Tensors inside are
channels-first ``(B, C, T)``; the interface is ``(B, T, C)`` like every classifier's.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator
from torch import nn

from hartune.knobs import OddInt

MIN_WINDOW = 16


class DenoiserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    width: PositiveInt = 64
    # Width multiplier per resolution; each level after the first halves time.
    channel_mult: Annotated[tuple[PositiveInt, ...], Field(min_length=1, max_length=4)] = (1, 2, 2)
    blocks_per_level: PositiveInt = 1
    kernel_size: OddInt = 5
    # 128-d sinusoidal time embedding, as in the paper's psi(t).
    time_dim: PositiveInt = 128
    label_dim: PositiveInt = 64
    stats_dim: PositiveInt = 64
    emb_dim: PositiveInt = 128
    dropout: float = Field(0.0, ge=0.0, lt=1.0)

    @field_validator("time_dim")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"must be even (sin and cos halves), got {v}")
        return v


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal ``psi(t)``: ``(B,)`` integer timesteps -> ``(B, dim)`` (Vaswani et al. frequencies)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)  # (half,)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class AdaGN(nn.Module):
    """Eq. 9: ``AdaGN(h, c) = gamma(c) * GroupNorm(h) + beta(c)``, with ``(gamma, beta)`` a linear map of
    the conditioning embedding ``c`` (written ``gamma = 1 + scale`` so that a zero map is plain GN)."""

    def __init__(self, channels: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels, affine=False)
        self.proj = nn.Linear(emb_dim, 2 * channels)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # h (B, C, T), emb (B, E)
        scale, shift = self.proj(emb)[..., None].chunk(2, dim=1)  # 2 x (B, C, 1)
        return self.norm(h) * (1 + scale) + shift


class ResBlock(nn.Module):
    """AdaGN -> SiLU -> conv, twice, plus a (1x1 if the width changes) skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = AdaGN(c_in, emb_dim)
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2)
        self.norm2 = AdaGN(c_out, emb_dim)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, padding=kernel_size // 2)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        r = self.conv1(F.silu(self.norm1(h, emb)))
        r = self.conv2(self.drop(F.silu(self.norm2(r, emb))))
        return self.skip(h) + r


class Level(nn.Module):
    """Residual blocks at one resolution, then a resampling (or ``Identity``) module."""

    def __init__(self, widths: list[int], emb_dim: int, cfg: DenoiserConfig, resample: nn.Module) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            ResBlock(a, b, emb_dim, cfg.kernel_size, cfg.dropout) for a, b in pairwise(widths)
        )
        self.resample = resample

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h, emb)
        return h


class Upsample(nn.Sequential):
    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(channels, channels, 3, padding=1)
        )


class Denoiser(nn.Module):
    """``(x_t, t, y, stats, local) -> eps_hat`` with ``x_t``/``local``/``eps_hat`` ``(B, T, C)``,
    ``t``/``y`` ``(B,)`` int64 and ``stats`` ``(B, C, 3)`` (mean, std, skew of the target window)."""

    def __init__(self, in_channels: int, num_classes: int, cfg: DenoiserConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.in_channels = in_channels
        self.factor = 2 ** (len(cfg.channel_mult) - 1)  # time must divide by this
        widths = [cfg.width * m for m in cfg.channel_mult]
        n = cfg.blocks_per_level
        self.label_embed = nn.Embedding(num_classes, cfg.label_dim)
        self.stats_embed = nn.Sequential(nn.Linear(3 * in_channels, cfg.stats_dim), nn.SiLU())
        self.cond_mlp = nn.Sequential(  # Eq. 10: MLP over [e_y, psi(t), phi(stats)]
            nn.Linear(cfg.time_dim + cfg.label_dim + cfg.stats_dim, cfg.emb_dim),
            nn.SiLU(),
            nn.Linear(cfg.emb_dim, cfg.emb_dim),
            nn.SiLU(),
        )
        self.stem = nn.Conv1d(2 * in_channels, cfg.width, cfg.kernel_size, padding=cfg.kernel_size // 2)
        self.down = nn.ModuleList()
        prev = cfg.width
        for i, w in enumerate(widths):
            last = i == len(widths) - 1
            down = nn.Identity() if last else nn.Conv1d(w, w, 3, stride=2, padding=1)
            self.down.append(Level([prev] + [w] * n, cfg.emb_dim, cfg, down))
            prev = w
        self.mid = Level([prev, prev, prev], cfg.emb_dim, cfg, nn.Identity())
        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            up = nn.Identity() if i == len(widths) - 1 else Upsample(prev)
            self.up.append(Level([prev + w] + [w] * n, cfg.emb_dim, cfg, up))
            prev = w
        self.out = nn.Sequential(
            nn.GroupNorm(_groups(prev), prev),
            nn.SiLU(),
            nn.Conv1d(prev, in_channels, cfg.kernel_size, padding=cfg.kernel_size // 2),
        )

    def embed(self, t: torch.Tensor, y: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        """The conditioning embedding (B, emb_dim) that every AdaGN reads."""
        cond = [
            self.label_embed(y),
            timestep_embedding(t, self.cfg.time_dim),
            self.stats_embed(stats.flatten(1)),
        ]
        return self.cond_mlp(torch.cat(cond, dim=-1))

    def forward(
        self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor, stats: torch.Tensor, local: torch.Tensor
    ) -> torch.Tensor:
        steps = x_t.shape[1]
        emb = self.embed(t, y, stats)  # (B, E)
        h = torch.cat([x_t, local], dim=2).transpose(1, 2)  # (B, 2C, T)
        pad = -steps % self.factor
        h = self.stem(F.pad(h, (0, pad), mode="replicate"))  # (B, W, T')
        skips = []
        for level in self.down:
            h = level(h, emb)
            skips.append(h)
            h = level.resample(h)
        h = self.mid(h, emb)
        for level in self.up:
            h = level(torch.cat([level.resample(h), skips.pop()], dim=1), emb)
        return self.out(h)[..., :steps].transpose(1, 2)  # (B, T, C)
