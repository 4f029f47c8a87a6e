"""Statistical features of windows, per channel (USAD §3.1.1, Eqs. 1-4; after Zuo et al. 2023).

For one channel ``x_1..x_L`` of a window:

* global (Eq. 1): mean ``mu``, population std ``sigma = sqrt(mean((x - mu)^2))`` and skewness
  ``gamma = mean(((x - mu) / sigma)^3)``;
* local (Eq. 2): the z-scored signal ``z_i = (x_i - mu) / sigma``;
* the conditioning vector (Eq. 3): the three globals replicated over time next to ``z``;
* class prototypes (Eq. 4): the mean of each feature over the training windows of one class.

A constant channel has ``sigma = 0``: its z-scores and skewness are 0, not NaN. Every function takes a
numpy array or a torch tensor and returns the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from hartune.data.tensors import shared_tensor

Array = TypeVar("Array", np.ndarray, torch.Tensor)

# A channel whose std is below this is treated as constant (z = 0, skew = 0).
EPS = 1e-6
STAT_NAMES = ("mean", "std", "skew")


def _tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    # the prepared windows are read-only (shared by a node's trials): a guarded view, not a copy
    return x if isinstance(x, torch.Tensor) else shared_tensor(np.asarray(x, dtype=np.float32))


def _like(out: torch.Tensor, ref: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    return out if isinstance(ref, torch.Tensor) else out.numpy()


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, T, C) -> mean (N, 1, C), std (N, 1, C), z-scores (N, T, C)."""
    mu = x.mean(dim=1, keepdim=True)
    sigma = x.std(dim=1, correction=0, keepdim=True)
    z = torch.where(sigma > EPS, (x - mu) / sigma.clamp_min(EPS), torch.zeros_like(x))
    return mu, sigma, z


def global_features(x: Array) -> Array:
    """Eq. 1: ``(N, T, C)`` windows -> ``(N, C, 3)``: mean, std, skewness of each channel."""
    mu, sigma, z = _moments(_tensor(x))
    skew = (z**3).mean(dim=1, keepdim=True)
    stats = torch.cat([mu, sigma, skew], dim=1).transpose(1, 2).contiguous()  # (N, C, 3)
    return _like(stats, x)  # type: ignore[return-value]


def local_features(x: Array) -> Array:
    """Eq. 2: ``(N, T, C)`` -> ``(N, T, C)``: each channel z-scored with its own window statistics."""
    return _like(_moments(_tensor(x))[2], x)  # type: ignore[return-value]


def feature_channels(x: Array) -> Array:
    """Eq. 3: ``(N, T, C)`` -> ``(N, T, 4C)``: ``[mean, std, skew]`` replicated over time, then ``z``.

    Channel blocks in that order: ``[:, :, 0:C]`` the means, ``C:2C`` the stds, ``2C:3C`` the
    skewnesses and ``3C:4C`` the z-scores (the classifier input of Eq. 16 concatenates this to x).
    """
    xt = _tensor(x)
    g = _tensor(global_features(xt))  # (N, C, 3)
    steps = xt.shape[1]
    repl = [g[:, None, :, k].expand(-1, steps, -1) for k in range(3)]  # 3 x (N, T, C)
    return _like(torch.cat([*repl, local_features(xt)], dim=2), x)  # type: ignore[return-value]


@dataclass(frozen=True)
class Prototypes:
    """Eq. 4, for classes ``0..K-1``; a class without windows has count 0 and all-zero prototypes."""

    stats: torch.Tensor  # (K, C, 3) mean of the global features
    local: torch.Tensor  # (K, T, C) mean z-scored curve
    counts: torch.Tensor  # (K,) int64 windows per class


def class_prototypes(
    x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, num_classes: int
) -> Prototypes:
    """Per-class means of the global and local features of ``(N, T, C)`` windows labelled ``y``."""
    xt = _tensor(x)
    yt = y.to(torch.int64) if isinstance(y, torch.Tensor) else shared_tensor(np.asarray(y, dtype=np.int64))
    counts = torch.bincount(yt, minlength=num_classes)
    denom = counts.clamp_min(1).to(xt.dtype)

    def mean_by_class(v: torch.Tensor) -> torch.Tensor:  # (N, ...) -> (K, ...)
        out = torch.zeros((num_classes, *v.shape[1:]), dtype=v.dtype).index_add_(0, yt, v)
        return out / denom.view(-1, *([1] * (v.ndim - 1)))

    return Prototypes(mean_by_class(global_features(xt)), mean_by_class(local_features(xt)), counts)
