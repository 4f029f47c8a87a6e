"""Report figures (matplotlib, headless): the radar chart of Fig. 3 and the t-SNE scatter of Fig. 5."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
