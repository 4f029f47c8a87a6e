"""The scikit-learn steps of the ``random_forest`` pipeline (``hartune.models.forest``): window
statistics, flattened windows and the z-score. Apart from the config so that validating a spec (the
CLI, every trial process) does not import scikit-learn (about 1 s); the model's ``build`` imports this.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

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
