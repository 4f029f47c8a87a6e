"""A fraction of the training split: USAD's Table 3 column "PAMAP2 (50%)" ("PAMAP2 data set (with 100%
and 50% data volumes)", §4; the paper says no more about how the half was drawn).

Validation and test are never touched (the caller passes training positions only), so a 50% run is
scored on the same windows as the 100% run of the same split.

Choices where the paper is silent, each a value of ``TrainFractionConfig``:

* **Stratified by subject and class** (always): every (subject, class) cell of the training windows
  keeps ``fraction`` of its windows, rounded half up, and at least one, so no subject and no class
  leaves the training split and both proportions are kept within rounding. Stratifying by class alone
  (what a random window split does) could drop a subject's rare activity entirely.
* ``pick: random`` (default): the kept windows of a cell are a uniform random draw with ``seed``.
  ``pick: first``: the cell's first windows in recording and time order, i.e. "half the recording time":
  contiguous stretches, so overlapping neighbours stay together, but the subset is tied to the
  sessions' starts (warm-up, fresh sensors).
* ``seed`` is the subset's own, independent of the training seed: the seeds of a stage vary the model,
  not which windows it trains on (as a split's seed fixes its partition, ``hartune.data.splits``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class TrainFractionConfig(BaseModel):
    """``train_fraction: 0.5`` (shorthand) or ``{fraction: 0.5, seed: 0, pick: random}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float = Field(
        gt=0, le=1, description="share of each (subject, class) cell's training windows kept"
    )
    seed: int = Field(0, description="which windows; independent of the training seed")
    pick: Literal["random", "first"] = "random"


def cell_quota(n: int, fraction: float) -> int:
    """Windows a cell of ``n`` keeps: ``n * fraction`` rounded half up, at least 1 (of a non-empty cell)."""
    return min(n, max(1, int(np.floor(n * fraction + 0.5)))) if n else 0


def keep_fraction(y: np.ndarray, subject: np.ndarray, cfg: TrainFractionConfig) -> np.ndarray:
    """Sorted positions into the training windows (``y``, ``subject``: (N,), in recording and time order)
    that the fraction keeps."""
    rng = np.random.default_rng(cfg.seed)
    kept = []
    for s in np.unique(subject):  # sorted: the draw does not depend on the windows' order of subjects
        for c in np.unique(y[subject == s]):
            cell = np.flatnonzero((subject == s) & (y == c))  # ascending: time order within a recording
            k = cell_quota(len(cell), cfg.fraction)
            kept.append(cell[:k] if cfg.pick == "first" else rng.choice(cell, k, replace=False))
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
