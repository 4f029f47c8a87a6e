"""Figures logged as artifacts (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def confusion_figure(cm: np.ndarray, class_names: Sequence[str], title: str = "") -> plt.Figure:
    """Row-normalised confusion matrix (recall on the diagonal) with raw counts in each cell."""
    k = len(class_names)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.6 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    return fig


def curves_figure(history: Sequence[dict[str, float]], keys: Sequence[str]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = range(1, len(history) + 1)
    for k in keys:
        ax.plot(epochs, [h.get(k, np.nan) for h in history], label=k)
    ax.set_xlabel("epoch")
    ax.legend()
    return fig


def pareto_figure(rows: list[dict], x: str, y: str) -> plt.Figure:
    """Every finished trial of a two-objective search; the Pareto front joined and highlighted."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    rest = [r for r in rows if not r["pareto"]]
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r[x])
    ax.scatter([r[x] for r in rest], [r[y] for r in rest], c="0.6", label="dominated")
    ax.plot([r[x] for r in front], [r[y] for r in front], "o-", c="tab:red", label="Pareto front")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
