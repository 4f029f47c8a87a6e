"""Penultimate features of a logged model on its own test windows: t-SNE (Fig. 5) and Table 6.

The data is prepared again from the trial's logged data config (``data.*`` params), the same function
the recipe used, and checked against the fingerprint the trial logged (``data.json``). A logged model is
a ``Normalized`` module: it takes RAW windows, so the z-scored test windows are mapped back first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from hartune.report.search import _value
from hartune.train.metrics import feature_distances

TSNE_MAX = 2000  # windows in a t-SNE plot; more adds little and costs minutes


@dataclass(frozen=True)
class FeatureResult:
    features: np.ndarray  # (N, D) penultimate features of the test windows
    y: np.ndarray  # (N,)
    class_names: tuple[str, ...]
    distances: dict[str, float]  # Table 6: intra, inter, ratio
    fingerprint_ok: bool


def data_config(params: Mapping[str, str]):  # -> DataConfig
    """The trial's ``DataConfig`` back from its flattened ``data.*`` params (``None`` = the default)."""
    from hartune.data import DataConfig
    from hartune.registry import validate_config
    from hartune.overlays import unflatten

    flat = {k.removeprefix("data."): _value(v) for k, v in params.items() if k.startswith("data.")}
    return validate_config(DataConfig, unflatten({k: v for k, v in flat.items() if v is not None}))


@torch.no_grad()
def penultimate(model: torch.nn.Module, x_raw: np.ndarray, batch: int = 256) -> np.ndarray:
    """``model.features`` of raw windows ``(N, T, C)`` -> ``(N, D)``."""
    model.eval()
    out = [model.features(torch.from_numpy(np.ascontiguousarray(x_raw[i:i + batch], dtype=np.float32)))
           for i in range(0, len(x_raw), batch)]
    return torch.cat(out).reshape(len(x_raw), -1).numpy()


def with_features(loaded: torch.nn.Module, params: Mapping[str, str], d) -> torch.nn.Module:
    """The logged module if it still has ``.features``; else (MLflow stores an exported graph that kept
    only ``forward``) the ``Normalized`` model rebuilt from the trial's ``model.*`` params, with the
    logged weights and normalisation loaded strictly."""
    from hartune.models import create_normalized
    from hartune.overlays import unflatten
    from hartune.train import ModelSpec

    if hasattr(loaded, "features"):
        return loaded
    flat = {k.removeprefix("model."): _value(v) for k, v in params.items() if k.startswith("model.")}
    spec = ModelSpec(**unflatten({k: v for k, v in flat.items() if v is not None}))
    model = create_normalized(spec.name, in_channels=d.num_channels, num_classes=d.num_classes, window=d.window,
                              **spec.params)
    model.load_state_dict(loaded.state_dict(), strict=True)
    return model.eval()


def model_features(loaded: torch.nn.Module, params: Mapping[str, str], fingerprint: str | None) -> FeatureResult:
    from hartune.data import prepare

    d = prepare(data_config(params))
    model = with_features(loaded, params, d)
    raw = d.test.x * d.std + d.mean  # (N, T, C) in original units
    feats = penultimate(model, raw)
    return FeatureResult(feats, d.test.y, d.class_names, feature_distances(feats, d.test.y),
                         fingerprint is None or fingerprint == d.fingerprint)


def tsne(features: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2-D t-SNE of at most ``TSNE_MAX`` windows (a fixed random subset); returns (embedding, labels)."""
    from sklearn.manifold import TSNE

    idx = np.arange(len(features))
    if len(idx) > TSNE_MAX:
        idx = np.sort(np.random.default_rng(seed).choice(idx, TSNE_MAX, replace=False))
    perplexity = float(min(30, max(2, (len(idx) - 1) // 3)))
    from hartune import progress

    with progress.task(f"t-SNE of {len(idx)} test windows"):
        emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features[idx])
    return emb, y[idx]
