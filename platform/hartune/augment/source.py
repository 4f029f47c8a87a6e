"""Where a training run gets its generator, and how many synthetic windows of each class it asks for.

``FreshGenerators`` fits one in memory (``hartune train``, tests); ``CachedGenerators`` goes through the
content-keyed disk cache shared by every trial on the machine (or cluster, on shared storage), so the
generator of a (dataset, split, seed, generator config) is trained once, by whichever trial gets the
key's lock first, which also writes its quality report next to it for tracking to log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from hartune.augment.cache import Cached, GeneratorCache, cache_key
from hartune.augment.generator import DiffusionGenerator, GeneratorConfig, balanced_counts
from hartune.data import PreparedData

QUALITY_FILE, QUALITY_FIGURE = "quality.json", "real_vs_synthetic.png"
QUALITY_PER_CLASS = 64  # synthetic windows per class for the quality report


class GeneratorSource(Protocol):
    def get(self, data: PreparedData, cfg: GeneratorConfig) -> Cached: ...


def fit_generator(data: PreparedData, cfg: GeneratorConfig) -> DiffusionGenerator:
    """A generator fitted on the training split's (real, normalised) windows only."""
    from hartune import progress

    gen = DiffusionGenerator(cfg, data.num_channels, data.num_classes, data.window)
    with progress.task("training the diffusion generator (epochs)", total=cfg.epochs) as t:
        gen.fit(data.train.x, data.train.y, on_epoch=lambda epoch, loss: t.advance())
    return gen


def write_quality(gen: DiffusionGenerator, data: PreparedData, folder: Path) -> dict[str, object]:
    """The quality report (TSTR on the real test split, statistic distances) and the real-vs-synthetic
    figure, written into the generator's folder."""
    from hartune.augment.quality import quality_report, real_vs_synthetic_figure  # scipy, sklearn: ~1 s

    counts = {k: QUALITY_PER_CLASS for k in gen.fitted_classes}
    synthetic = gen.sample(counts, seed=0)
    report = quality_report(synthetic, (data.train.x, data.train.y), (data.test.x, data.test.y), data.class_names)
    (folder / QUALITY_FILE).write_text(json.dumps(report, indent=2, default=float))
    real_vs_synthetic_figure((data.train.x, data.train.y), synthetic, data.class_names,
                             data.channel_names).savefig(folder / QUALITY_FIGURE)
    return report


class FreshGenerators:
    """No cache: every run fits its own generator in memory."""

    def get(self, data: PreparedData, cfg: GeneratorConfig) -> Cached:
        return Cached(fit_generator(data, cfg), cache_key(data.fingerprint, cfg), None, trained=True)  # type: ignore[arg-type]


class CachedGenerators:
    """The disk cache at ``root``: trained once per content key, loaded by every later run."""

    def __init__(self, root: str | Path) -> None:
        self.cache = GeneratorCache(root)

    def get(self, data: PreparedData, cfg: GeneratorConfig) -> Cached:
        cached = self.cache.get_or_train(data.fingerprint, cfg, lambda: fit_generator(data, cfg))
        if cached.trained and not (cached.path / QUALITY_FILE).exists():
            write_quality(cached.generator, data, cached.path)
        return cached


def synthetic_counts(
    y: np.ndarray, num_classes: int, ratio: float, counts: str | Mapping[str, int], class_names: Sequence[str]
) -> dict[int, int]:
    """Synthetic windows per class, for real training labels ``y``.

    * a mapping ``{class name: count}``: taken as given;
    * ``balanced``: ``round(ratio * len(y))`` windows that raise the smallest classes first, toward one
      common level (water-filling), so the real+synthetic set is as balanced as the budget allows;
    * ``proportional``: the same budget in proportion to the real class counts;
    * ``uniform``: the same budget in equal shares over the classes (USAD Eq. 13, labels y ~ U{1..K}),
      the remainder one each to the first classes.
    Classes without real windows get none (the generator has nothing to condition them on).
    """
    if isinstance(counts, Mapping):
        index = {name: k for k, name in enumerate(class_names)}
        return {index[name]: int(n) for name, n in counts.items()}
    real = np.bincount(np.asarray(y), minlength=num_classes)
    present = [k for k in range(num_classes) if real[k] > 0]
    budget = round(ratio * len(y))
    if budget == 0 or not present:
        return {k: 0 for k in present}
    if counts == "uniform":
        return {k: budget // len(present) + (i < budget % len(present)) for i, k in enumerate(present)}
    if counts == "proportional":
        share = np.array([real[k] for k in present], dtype=float)
        alloc = np.floor(budget * share / share.sum()).astype(int)
    else:  # balanced: the highest level L with sum(max(0, L - n_k)) <= budget
        n = np.array([real[k] for k in present])
        lo, hi = int(n.min()), int(n.min()) + budget
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if np.maximum(0, mid - n).sum() <= budget else (lo, mid - 1)
        alloc = np.maximum(0, lo - n)
    order = np.argsort([real[k] + a for k, a in zip(present, alloc)], kind="stable")
    for i in range(budget - int(alloc.sum())):  # the remainder, one each to the smallest classes
        alloc[order[i % len(order)]] += 1
    return {k: int(a) for k, a in zip(present, alloc)}


__all__ = ["CachedGenerators", "FreshGenerators", "GeneratorSource", "balanced_counts", "synthetic_counts"]
