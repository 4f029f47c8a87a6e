"""Induced class imbalance on the training split, so the paper's imbalance claims can be studied on
any dataset. Validation and test are never touched (the caller passes training indices only)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class ImbalanceConfig(BaseModel):
    """Subsample the training windows so that largest/smallest class count equals ``ratio``.

    ``geometric``: class at rank r of K (largest first) keeps n_ref * ratio^(-r/(K-1)).
    ``step``: the ``minority`` classes keep n_ref / ratio, the others n_ref.
    n_ref is the largest count for which every target fits within what each class has, so the
    asked ratio is reached exactly (up to rounding) without inventing samples.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio: float = Field(10.0, ge=1.0, description="largest / smallest class count after subsampling")
    profile: Literal["geometric", "step"] = "geometric"
    # Class names (or indices) that become the minority; default: geometric ranks all classes by
    # their count, step takes the smaller half.
    minority: list[str | int] | None = None
    seed: int = 0


def class_index(name: str | int, class_names: tuple[str, ...]) -> int:
    if isinstance(name, int) and 0 <= name < len(class_names):
        return name
    if name in class_names:
        return class_names.index(str(name))
    raise ValueError(f"imbalance.minority class {name!r}; accepted: {', '.join(class_names)}")


def target_counts(counts: np.ndarray, cfg: ImbalanceConfig, minority: list[int]) -> np.ndarray:
    """(K,) available counts -> (K,) kept counts. Classes with zero windows stay zero."""
    present = np.flatnonzero(counts > 0)
    # rank: majority classes first (by count), the named minority classes last
    order = sorted(present, key=lambda k: (k in minority, -counts[k], k))
    if cfg.profile == "geometric":
        frac = {k: cfg.ratio ** (-r / max(len(order) - 1, 1)) for r, k in enumerate(order)}
    else:
        low = set(minority) if minority else set(order[(len(order) + 1) // 2 :])
        frac = {k: (1.0 / cfg.ratio if k in low else 1.0) for k in order}
    n_ref = min(counts[k] / frac[k] for k in order)
    out = np.zeros_like(counts)
    for k in order:
        out[k] = max(1, int(round(n_ref * frac[k])))
    return np.minimum(out, counts)


def subsample(
    y: np.ndarray, cfg: ImbalanceConfig, class_names: tuple[str, ...]
) -> np.ndarray:
    """Positions into ``y`` (the training labels) to keep, sorted."""
    counts = np.bincount(y, minlength=len(class_names))
    minority = [class_index(c, class_names) for c in cfg.minority or []]
    keep = target_counts(counts, cfg, minority)
    rng = np.random.default_rng(cfg.seed)
    chosen = [rng.choice(np.flatnonzero(y == k), keep[k], replace=False) for k in range(len(counts))]
    return np.sort(np.concatenate(chosen))
