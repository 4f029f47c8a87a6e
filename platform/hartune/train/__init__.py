"""The one training recipe and its metrics: ``train(cfg)`` runs the trainer of the model's family."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hartune.data import PreparedData
from hartune.models import MODELS
from hartune.train import recipe, sklearn  # noqa: F401  (register the "torch" and "sklearn" trainers)
from hartune.train.config import ModelSpec, RunConfig, TrainConfig, TransferConfig
from hartune.train.recipe import Recipe
from hartune.train.types import TRAINERS, Callback, NonFiniteLossError, TrainResult

if TYPE_CHECKING:
    from hartune.augment.source import GeneratorSource


def train(
    cfg: RunConfig, callbacks: Sequence[Callback] = (), data: PreparedData | None = None,
    generators: GeneratorSource | None = None, resume: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``cfg`` and evaluate its best epoch on test. ``data`` skips ``prepare`` when given. The
    model's family picks the trainer: the epoch loop (``torch``) or a fit once (``sklearn``)."""
    return TRAINERS.get(MODELS.get(cfg.model.name).family)(cfg, callbacks, data, generators, resume)


__all__ = [
    "Callback", "ModelSpec", "NonFiniteLossError", "Recipe", "RunConfig", "TrainConfig",
    "TrainResult", "TransferConfig", "train",
]
