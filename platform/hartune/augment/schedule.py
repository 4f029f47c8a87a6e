"""The DDPM forward process with the cosine schedule (USAD Eqs. 5-7), kept apart from the network.

Nichol & Dhariwal (2021): ``alpha_bar(t) = f(t) / f(0)`` with ``f(t) = cos^2(((t/T) + s) / (1 + s) * pi/2)``,
``s = 0.008``, and ``beta_t = 1 - alpha_bar(t) / alpha_bar(t-1)`` clipped at 0.999. diffusers'
``beta_schedule="squaredcos_cap_v2"`` is exactly that (``tests/augment`` checks it against
:func:`cosine_alpha_bar`), so its DDPM and DDIM schedulers do the forward noising and the reverse steps.

Indexing: diffusers' timestep ``i`` in ``0..T-1`` is the paper's ``t = i + 1``, i.e.
``alphas_cumprod[i] = alpha_bar(i + 1)``. The network only ever receives ``i``; it never sees a beta.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

if TYPE_CHECKING:
    from diffusers import DDIMScheduler, DDPMScheduler

# Fixed by diffusers' "squaredcos_cap_v2" and by the paper (Eq. 7).
COSINE_OFFSET = 0.008
MAX_BETA = 0.999

Weighting = Literal["simple", "min_snr"]
SamplerKind = Literal["ddpm", "ddim"]


def cosine_alpha_bar(timesteps: int, s: float = COSINE_OFFSET) -> np.ndarray:
    """The closed form of Eqs. 6-7: ``alpha_bar(t)`` for ``t = 0..T`` (``T + 1`` values, float64)."""
    t = np.arange(timesteps + 1, dtype=np.float64)
    f = np.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    return f / f[0]


class CosineSchedule:
    """Forward noising ``q(x_t | x_0)`` (Eq. 5), loss weights (Eq. 12) and the reverse-step schedulers."""

    def __init__(self, timesteps: int) -> None:
        self.timesteps = timesteps
        from diffusers import DDPMScheduler  # imported on use: diffusers takes ~3 s to import

        self._train = DDPMScheduler(**self._common())
        self.alphas_cumprod: torch.Tensor = self._train.alphas_cumprod  # (T,) float32, index i = paper t-1
        self.betas: torch.Tensor = self._train.betas  # (T,)

    def _common(self) -> dict[str, object]:
        return {
            "num_train_timesteps": self.timesteps,
            "beta_schedule": "squaredcos_cap_v2",
            "prediction_type": "epsilon",
        }

    def q_sample(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Eq. 5: ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``; ``x_0 (B, ...)``, ``t (B,)``"""
        return self._train.add_noise(x0, noise, t)

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """Signal-to-noise ratio ``alpha_bar_t / (1 - alpha_bar_t)`` at timestep indices ``t``."""
        a = self.alphas_cumprod[t]
        return a / (1 - a)

    def loss_weight(self, t: torch.Tensor, weighting: Weighting, snr_gamma: float) -> torch.Tensor:
        """Per-sample weight ``w_t`` of the epsilon MSE (Eqs. 11-12).

        * ``simple``: ``w_t = 1`` (Ho et al. 2020's L_simple).
        * ``min_snr``: ``w_t = min(SNR_t, gamma) / SNR_t`` (Min-SNR-gamma, Hang et al. 2023, for an
          epsilon-predicting network). It damps the many nearly noise-free timesteps whose epsilon is
          hardest to see and least useful to the sample, and is 1 wherever ``SNR_t <= gamma``.
        """
        if weighting == "simple":
            return torch.ones(t.shape, dtype=self.alphas_cumprod.dtype)
        snr = self.snr(t)
        return snr.clamp(max=snr_gamma) / snr

    def sampler(
        self, kind: SamplerKind, steps: int | None = None, clip_range: float | None = None
    ) -> DDPMScheduler | DDIMScheduler:
        """A fresh reverse-process scheduler with its timesteps set (``set_timesteps`` mutates it).

        ``ddpm`` walks all ``T`` steps ancestrally; ``ddim`` takes ``steps`` evenly spaced ones that
        start at ``T - 1`` ("trailing" spacing: sampling begins from pure noise, where ``x_T ~ N(0, I)``
        is true). ``clip_range`` bounds each predicted ``x_0`` to ``[-clip_range, clip_range]``.
        """
        from diffusers import DDIMScheduler, DDPMScheduler

        clip = {"clip_sample": clip_range is not None, "clip_sample_range": clip_range or 1.0}
        if kind == "ddpm":
            sched: DDPMScheduler | DDIMScheduler = DDPMScheduler(**self._common(), **clip)
            sched.set_timesteps(self.timesteps)
        else:
            sched = DDIMScheduler(
                **self._common(), **clip, timestep_spacing="trailing", set_alpha_to_one=True
            )
            sched.set_timesteps(steps or self.timesteps)
        return sched
