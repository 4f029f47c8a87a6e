"""The one training recipe and its metrics."""

from hartune.train.config import ModelSpec, RunConfig, TrainConfig
from hartune.train.recipe import Callback, NonFiniteLossError, Recipe, TrainResult, train

__all__ = [
    "Callback", "ModelSpec", "NonFiniteLossError", "Recipe", "RunConfig", "TrainConfig",
    "TrainResult", "train",
]
