"""A random forest on per-window statistical features (scikit-learn): the classical baseline that
seed 004 (virtual-IMU CNN + DAE) compares against.

Reference: Breiman 2001. Two inputs (``features``):

* ``statistics`` (the default): hand-crafted window statistics as is usual in HAR (e.g. the features
  of the UCI-HAR release, a small subset of them here), 12 per channel: mean, standard deviation, min,
  max, median, 25th and 75th percentiles, skewness, kurtosis, root mean square, mean absolute first
  difference and the rate of mean crossings. A departure from seed 004, which lists no features.
* ``raw``: seed 004's own setting, "For RF we directly input the processed data": the (z-scored)
  window itself, flattened to T*C values. The ``random_forest_source`` run preset (``hartune.presets``)
  selects it.

It has no epochs: the recipe fits it once (``hartune.train.sklearn``) and it is logged with MLflow's
sklearn flavour. ``num_parameters`` is the forest's total node count.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from hartune.models.base import ModelConfig, register_model

FEATURES = ("mean", "std", "min", "max", "median", "p25", "p75", "skew", "kurtosis", "rms",
            "mean_abs_diff", "mean_crossing_rate")


class WindowTransform(TransformerMixin, BaseEstimator):
    """A stateless map of (N, T, C) windows to (N, F) rows: nothing is fitted."""

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> WindowTransform:
        return self

    @staticmethod
    def windows(x: np.ndarray, dtype: type) -> np.ndarray:
        x = np.asarray(x, dtype=dtype)
        if x.ndim != 3:
            raise ValueError(f"windows must be (N, T, C); got shape {x.shape}")
        return x


class WindowFeatures(WindowTransform):
    """(N, T, C) windows -> (N, C * 12) statistics, channel-major (all of channel 0 first)."""

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = self.windows(x, np.float64)
        mean = x.mean(axis=1)
        centred = x - mean[:, None, :]
        crossings = (np.diff(np.signbit(centred), axis=1) != 0).mean(axis=1) if x.shape[1] > 1 else np.zeros_like(mean)
        diffs = np.abs(np.diff(x, axis=1)).mean(axis=1) if x.shape[1] > 1 else np.zeros_like(mean)
        p25, median, p75 = np.percentile(x, [25, 50, 75], axis=1)
        m2, m3, m4 = ((centred**k).mean(axis=1) for k in (2, 3, 4))
        flat = m2 <= 1e-12 * np.maximum(np.abs(mean) ** 2, 1.0)  # a constant channel: no shape to describe
        safe = np.where(flat, 1.0, m2)
        skew = np.where(flat, 0.0, m3 / safe**1.5)  # Fisher-Pearson, as scipy.stats.skew
        kurtosis = np.where(flat, 0.0, m4 / safe**2 - 3.0)  # excess, as scipy.stats.kurtosis
        feats = [
            mean, np.sqrt(m2), x.min(axis=1), x.max(axis=1), median, p25, p75, skew, kurtosis,
            np.sqrt((x**2).mean(axis=1)), diffs, crossings,
        ]
        return np.stack(feats, axis=2).reshape(len(x), -1)  # (N, C, 12) -> (N, C * 12)


class FlatWindows(WindowTransform):
    """(N, T, C) windows -> (N, T * C): the processed window itself, time-major."""

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.windows(x, np.float32).reshape(len(x), -1)


class ZScore(TransformerMixin, BaseEstimator):
    """Per-channel ``(x - mean) / std`` with the training split's statistics (not fitted here)."""

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        self.mean, self.std = mean, std

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> ZScore:
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float32) - self.mean) / self.std


class RandomForestConfig(ModelConfig):
    n_estimators: PositiveInt = 100
    max_depth: PositiveInt | None = None
    min_samples_leaf: PositiveInt = 1
    max_features: Literal["sqrt", "log2"] | float = "sqrt"
    class_weight: Literal["balanced", "balanced_subsample"] | None = None
    n_jobs: int = Field(1, description="trees fitted in parallel; 1 keeps to the trial's CPU")
    features: Literal["statistics", "raw"] = "statistics"  # raw: the flattened window (seed 004)


@register_model("random_forest", RandomForestConfig, family="sklearn")
def build_random_forest(in_channels: int, num_classes: int, window: int, cfg: RandomForestConfig) -> Pipeline:
    """Window statistics (or the flattened window) -> random forest (Breiman 2001); seed 004's non-deep
    baseline."""
    forest = RandomForestClassifier(
        n_estimators=cfg.n_estimators, max_depth=cfg.max_depth, min_samples_leaf=cfg.min_samples_leaf,
        max_features=cfg.max_features, class_weight=cfg.class_weight, n_jobs=cfg.n_jobs,
    )
    features = FlatWindows() if cfg.features == "raw" else WindowFeatures()
    return Pipeline([("features", features), ("forest", forest)])


def node_count(pipeline: Pipeline) -> int:
    """Total nodes of the fitted forest: its size, reported as ``num_parameters``."""
    return int(sum(t.tree_.node_count for t in pipeline.named_steps["forest"].estimators_))
