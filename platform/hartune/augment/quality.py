"""How good are synthetic windows? Plain numbers and a figure; logging them is the caller's job.

* Train-on-synthetic / test-on-real (TSTR) accuracy, next to train-on-real / test-on-real (TRTR) with the
  same classifier as its reference. The classifier is a multinomial logistic regression (scikit-learn,
  inputs standardised) on six summary statistics per channel: mean, std, skewness, min, max and the mean
  absolute first difference. It is small, deterministic and trains in well under a second, and it only
  sees what a window's statistics reveal, which is what the generator is guided by.
* Per class, distances between the statistics (Eq. 1) of real and synthetic windows: the RMS difference of
  the class prototypes (Eq. 4) and the mean 1-D Wasserstein distance of each statistic's distribution
  over windows (the distance of the paper's Eq. 19 bound), per statistic and overall.
* A figure: one real and one synthetic window per class, side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import wasserstein_distance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hartune.augment.features import STAT_NAMES, global_features

CLASSIFIER = "logistic regression on per-channel mean/std/skew/min/max/mean|diff| (standardised)"


def summary_features(x: np.ndarray) -> np.ndarray:
    """``(N, T, C)`` -> ``(N, 6C)``: mean, std, skewness, min, max, mean |x_t - x_{t-1}| per channel."""
    g = global_features(x).reshape(len(x), -1)  # (N, 3C)
    rough = np.abs(np.diff(x, axis=1)).mean(axis=1)  # (N, C)
    return np.concatenate([g, x.min(axis=1), x.max(axis=1), rough], axis=1)


def _accuracy(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], seed: int) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(summary_features(train[0]), train[1])
    return float((clf.predict(summary_features(test[0])) == test[1]).mean())


def tstr(
    synthetic: tuple[np.ndarray, np.ndarray],
    real_train: tuple[np.ndarray, np.ndarray],
    real_test: tuple[np.ndarray, np.ndarray],
    seed: int = 0,
) -> dict[str, object]:
    """TSTR and TRTR accuracy on the real test windows of the classes the synthetic set covers."""
    classes = np.unique(synthetic[1])
    if len(classes) < 2:
        raise ValueError(f"tstr: synthetic windows cover {len(classes)} class(es); need at least 2")
    keep_train, keep_test = np.isin(real_train[1], classes), np.isin(real_test[1], classes)
    test = (real_test[0][keep_test], real_test[1][keep_test])
    return {
        "tstr_accuracy": _accuracy(synthetic, test, seed),
        "trtr_accuracy": _accuracy((real_train[0][keep_train], real_train[1][keep_train]), test, seed),
        "classes": classes.tolist(),
        "n_test": int(keep_test.sum()),
        "classifier": CLASSIFIER,
    }


def stat_distances(
    real: tuple[np.ndarray, np.ndarray], synthetic: tuple[np.ndarray, np.ndarray], class_names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per class present in both sets: ``prototype_rms``, ``wasserstein`` and ``wasserstein_<stat>``."""
    g_real, g_syn = global_features(real[0]), global_features(synthetic[0])  # (N, C, 3)
    out: dict[str, dict[str, float]] = {}
    for k in np.intersect1d(np.unique(real[1]), np.unique(synthetic[1])):
        a, b = g_real[real[1] == k], g_syn[synthetic[1] == k]  # (n_k, C, 3)
        w = np.array(
            [[wasserstein_distance(a[:, c, s], b[:, c, s]) for s in range(3)] for c in range(a.shape[1])]
        )  # (C, 3)
        row = {
            "prototype_rms": float(np.sqrt(((a.mean(0) - b.mean(0)) ** 2).mean())),
            "wasserstein": float(w.mean()),
            **{f"wasserstein_{name}": float(w[:, s].mean()) for s, name in enumerate(STAT_NAMES)},
            "n_real": len(a),
            "n_synthetic": len(b),
        }
        out[class_names[int(k)]] = row
    return out


def quality_report(
    synthetic: tuple[np.ndarray, np.ndarray],
    real_train: tuple[np.ndarray, np.ndarray],
    real_test: tuple[np.ndarray, np.ndarray],
    class_names: Sequence[str],
    seed: int = 0,
) -> dict[str, object]:
    """TSTR/TRTR accuracy, and the per-class statistic distances of synthetic vs real training windows.

    All arrays are in the same (normalised) units: ``x (N, T, C)``, ``y (N,)``.
    """
    per_class = stat_distances(real_train, synthetic, class_names)
    return {
        **tstr(synthetic, real_train, real_test, seed),
        "per_class": per_class,
        "mean_wasserstein": float(np.mean([r["wasserstein"] for r in per_class.values()])),
    }


def real_vs_synthetic_figure(
    real: tuple[np.ndarray, np.ndarray],
    synthetic: tuple[np.ndarray, np.ndarray],
    class_names: Sequence[str],
    channel_names: Sequence[str] | None = None,
    seed: int = 0,
) -> Figure:
    """One row per class present in both sets: a random real window (left) and synthetic one (right),
    every channel on one shared y-axis per row. A bare ``Figure`` (Agg), so no pyplot state is touched;
    save it with ``fig.savefig(path)``."""
    rng = np.random.default_rng(seed)
    classes = np.intersect1d(np.unique(real[1]), np.unique(synthetic[1]))
    fig = Figure(figsize=(10, 1.8 * max(len(classes), 1)), layout="constrained")
    axes = fig.subplots(max(len(classes), 1), 2, sharex=True, squeeze=False)
    for row, k in enumerate(classes):
        for col, (name, (x, y)) in enumerate((("real", real), ("synthetic", synthetic))):
            window = x[rng.choice(np.flatnonzero(y == k))]  # (T, C)
            ax = axes[row, col]
            ax.plot(window, linewidth=0.8)
            ax.set_title(f"{class_names[int(k)]}: {name}", fontsize=9)
        axes[row, 1].sharey(axes[row, 0])
    if channel_names is not None and len(classes):
        axes[0, 1].legend(
            list(channel_names), fontsize=7, loc="upper right", ncols=min(len(channel_names), 6)
        )
    return fig
