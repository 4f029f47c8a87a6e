"""What a training run returns and whom it tells: the result, the callback protocol and the trainers.

A trainer turns a ``RunConfig`` into a ``TrainResult``; there is one per model family
(``ModelEntry.family``), registered in ``TRAINERS``: ``"torch"`` is the epoch loop
(``hartune.train.recipe``), ``"sklearn"`` fits an estimator once (``hartune.train.sklearn``).
``hartune.train.train`` looks the family's trainer up. Trainers tell their callbacks after every epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hartune.registry import Registry

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from hartune.augment.source import GeneratorSource
    from hartune.data import PreparedData
    from hartune.models import Normalized
    from hartune.train.config import RunConfig

# A lazy snapshot of the recipe's resumable state (``Recipe.snapshot``): built only if called, so a
# callback that checkpoints rarely does not pay for a state-dict copy every epoch.
Snapshot = Callable[[], dict[str, Any]]


class Callback(Protocol):
    def on_epoch_end(self, epoch: int, metrics: dict[str, float], snapshot: Snapshot | None = None) -> None:
        """``epoch`` counts from 1; ``metrics`` holds train_*, val_* and lr for that epoch. ``snapshot``
        returns what resuming after this epoch needs (e.g. Tune's checkpoint); ``None`` when there is
        nothing to resume, as for a model fitted once."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf: the run is failed, not silently continued."""


@dataclass
class TrainResult:
    config: RunConfig
    test: dict[str, float]  # metrics of the best epoch on the test split
    val: dict[str, float]  # metrics of the best epoch on the validation split
    best_epoch: int
    history: list[dict[str, float]]  # one dict per epoch, as reported to callbacks
    # Accepts raw (un-normalised) windows: a torch model on CPU in eval mode, or a fitted sklearn pipeline
    model: Normalized | Pipeline
    data: PreparedData
    test_true: np.ndarray  # (N,)
    test_prob: np.ndarray  # (N, K)
    num_parameters: int
    stopped_early: bool = False
    extra: dict[str, object] = field(default_factory=dict)


class Trainer(Protocol):
    def __call__(
        self, cfg: RunConfig, callbacks: Sequence[Callback] = (), data: PreparedData | None = None,
        generators: GeneratorSource | None = None, resume: dict[str, Any] | None = None,
    ) -> TrainResult:
        """Train ``cfg`` and evaluate its best epoch on test. ``data`` skips ``prepare`` when given;
        ``generators`` serve augmentation; ``resume`` is a snapshot to continue after."""
        ...


TRAINERS: Registry[Trainer] = Registry("trainer")  # keyed by model family: "torch", "sklearn"
