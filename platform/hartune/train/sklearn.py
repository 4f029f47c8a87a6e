"""The trainer of scikit-learn models (``family: sklearn``, e.g. ``random_forest``).

Same inputs and outputs as the PyTorch loop (a ``RunConfig`` in, a ``TrainResult`` out, callbacks told
once), so stages, tracking and reports treat a forest like any other model. There are no epochs: the
estimator is fitted once on the training windows and reported as epoch 1, with no snapshot (there is
nothing to resume). The loss config, the optimiser settings, ``train.precision`` and ``train.compile``,
augmentation and transfer are ignored. The returned model is a pipeline that accepts raw windows (the
training split's z-score is its first step), logged with MLflow's sklearn flavour.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hartune.data import PreparedData, prepare
from hartune.models import create_estimator
from hartune.models.forest import node_count
from hartune.train.metrics import classification_metrics
from hartune.train.types import TRAINERS, Callback, TrainResult

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from hartune.augment.source import GeneratorSource
    from hartune.train.config import RunConfig


def full_proba(estimator: Pipeline, x: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, K) probabilities over every class, also those absent from the training split."""
    out = np.zeros((len(x), num_classes))
    out[:, estimator.classes_] = estimator.predict_proba(x)
    return out


def evaluate(estimator: Pipeline, x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[dict[str, float], np.ndarray]:
    prob = full_proba(estimator, x, num_classes)
    metrics = classification_metrics(y, prob, num_classes)
    metrics["loss"] = float(-np.log(np.clip(prob[np.arange(len(y)), y], 1e-12, None)).mean())
    return metrics, prob


def latency_ms(estimator: Pipeline, window: int, channels: int) -> float:
    from hartune.deploy import median_latency_ms

    return median_latency_ms(estimator.predict_proba, np.zeros((1, window, channels), np.float32))


@TRAINERS.register("sklearn")
def train_sklearn(
    cfg: RunConfig, callbacks: Sequence[Callback] = (), data: PreparedData | None = None,
    generators: GeneratorSource | None = None, resume: dict[str, Any] | None = None,
) -> TrainResult:
    """Fit once and evaluate; ``generators`` and ``resume`` are unused (no augmentation, no epochs)."""
    from sklearn.pipeline import Pipeline

    from hartune.models.forest_steps import ZScore

    t0 = time.perf_counter()
    data = data if data is not None else prepare(cfg.data)
    estimator = create_estimator(cfg.model.name, in_channels=data.num_channels, num_classes=data.num_classes,
                                 window=data.window, **cfg.model.params)
    estimator.set_params(**{f"{estimator.steps[-1][0]}__random_state": cfg.seed})
    estimator.fit(data.train.x, data.train.y)
    train_m, _ = evaluate(estimator, data.train.x, data.train.y, data.num_classes)
    val, _ = evaluate(estimator, data.val.x, data.val.y, data.num_classes)
    test, prob = evaluate(estimator, data.test.x, data.test.y, data.num_classes)
    deployed = Pipeline([("zscore", ZScore(data.mean, data.std)), *estimator.steps])  # raw windows in
    size = node_count(estimator)
    metrics = {
        "train_loss": train_m["loss"], "train_accuracy": train_m["accuracy"],
        **{f"val_{k}": v for k, v in val.items()},
        "num_parameters": size, "latency_ms": latency_ms(deployed, data.window, data.num_channels),
        "epoch_time_s": time.perf_counter() - t0,
    }
    for cb in callbacks:
        cb.on_epoch_end(1, metrics, None)
    return TrainResult(
        config=cfg, test=test, val=val, best_epoch=1, history=[metrics], model=deployed, data=data,
        test_true=data.test.y, test_prob=prob, num_parameters=size, extra={"family": "sklearn"},
    )
