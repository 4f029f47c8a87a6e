"""Report figures (matplotlib, headless): the radar chart of Fig. 3, the t-SNE scatter of Fig. 5, and on a
cross-validation axis the per-subject strip plot and the critical-difference diagram."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def radar_figure(scores: Mapping[str, Mapping[str, float]], title: str = "") -> plt.Figure:
    """One polygon per model over the metric axes (``scores[model][axis]``, fractions in [0, 1])."""
    axes = list(dict.fromkeys(a for s in scores.values() for a in s))
    angles = np.linspace(0, 2 * np.pi, len(axes), endpoint=False).tolist()
    fig, ax = plt.subplots(figsize=(6.5, 6), subplot_kw={"polar": True})
    for model, s in scores.items():
        vals = [s.get(a, np.nan) for a in axes]
        ax.plot(angles + angles[:1], vals + vals[:1], label=model, linewidth=1.5)
        ax.fill(angles + angles[:1], vals + vals[:1], alpha=0.05)
    ax.set_xticks(angles, axes)
    lows = [v for s in scores.values() for v in s.values() if np.isfinite(v)]
    ax.set_ylim(max(0.0, min(lows, default=0.0) - 0.05), 1.0)
    ax.set_title(title)
    ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.1), fontsize=7)
    fig.tight_layout()
    return fig


def tsne_figure(embedding: np.ndarray, y: np.ndarray, class_names: Sequence[str], title: str = "") -> plt.Figure:
    """``embedding`` (N, 2) coloured by true class ``y`` (N,)."""
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for k, name in enumerate(class_names):
        m = y == k
        if m.any():
            ax.scatter(embedding[m, 0], embedding[m, 1], s=6, color=cmap(k % cmap.N), label=name)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    ax.legend(markerscale=2, fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def per_subject_figure(values: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]], title: str = "") -> plt.Figure:
    """A strip plot per dataset (rows) and metric (columns): x = variant, one dot per subject (jittered
    sideways, seeded), its mean as a black bar. ``values[dataset][metric][variant]`` are fractions."""
    datasets = list(values)
    metrics = list(dict.fromkeys(m for d in values.values() for m in d))
    fig, axes = plt.subplots(len(datasets), len(metrics), squeeze=False,
                             figsize=(max(4.0, 1.2 * max(len(v) for d in values.values() for v in d.values())) * len(metrics),
                                      3.6 * len(datasets)))
    rng = np.random.default_rng(0)
    for i, d in enumerate(datasets):
        for j, m in enumerate(metrics):
            ax = axes[i][j]
            per_variant = values[d].get(m, {})
            for k, (variant, ys) in enumerate(per_variant.items()):
                ys = np.asarray(ys, float)
                ax.scatter(k + rng.uniform(-0.15, 0.15, len(ys)), ys, s=22, alpha=0.75, zorder=2)
                ax.hlines(ys.mean(), k - 0.3, k + 0.3, color="black", linewidth=2, zorder=3)
            ax.set_xticks(range(len(per_variant)), list(per_variant), rotation=20, ha="right")
            ax.set_ylabel(m)
            ax.set_title(f"{d}: " * (len(datasets) > 1) + f"{m} per test subject (bar: mean)", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def cd_figure(result: Any) -> plt.Figure:
    """The critical-difference diagram (Demšar 2006) of an ``autorank`` result, drawn by autorank; drawn
    even when Friedman's test is not significant (the footnote says so)."""
    from autorank import plot_stats

    ax = plot_stats(result, allow_insignificant=True)
    return ax.figure
