"""The one training recipe and its metrics."""

from hartune.train.config import ModelSpec, RunConfig, TrainConfig, TransferConfig
from hartune.train.recipe import Callback, NonFiniteLossError, Recipe, TrainResult, train

__all__ = [
    "Callback", "ModelSpec", "NonFiniteLossError", "Recipe", "RunConfig", "TrainConfig",
    "TrainResult", "TransferConfig", "train",
]
