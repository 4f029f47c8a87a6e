"""Classifiers for (B, T, C) windows, built by name: ``create_model('usad', in_channels=..., ...)``."""

from hartune.models.base import (
    MODELS,
    HARClassifier,
    ModelConfig,
    ModelConfigError,
    Normalized,
    count_parameters,
    create_model,
    model_config,
    register_model,
)
from hartune.models import cnn, usad  # noqa: F401  (registers)

__all__ = [
    "MODELS",
    "HARClassifier",
    "ModelConfig",
    "ModelConfigError",
    "Normalized",
    "count_parameters",
    "create_model",
    "model_config",
    "register_model",
]
