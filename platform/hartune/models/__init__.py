"""Classifiers for (B, T, C) windows, built by name: ``create_model('usad', in_channels=..., ...)`` (torch),
``create_estimator('random_forest', ...)`` (scikit-learn)."""

from hartune.models import (  # noqa: F401  (registers)
    cnn,
    dae_cnn,
    deepconvlstm,
    forest,
    hs_cnn,
    lightweight,
    recurrent,
    resnet1d,
    se_res2net,
    usad,
)
from hartune.models.base import (
    MODELS,
    HARClassifier,
    ModelConfig,
    ModelConfigError,
    Normalized,
    count_parameters,
    create_estimator,
    create_model,
    create_normalized,
    model_config,
    register_model,
    torch_models,
)

__all__ = [
    "MODELS",
    "HARClassifier",
    "ModelConfig",
    "ModelConfigError",
    "Normalized",
    "count_parameters",
    "create_estimator",
    "create_model",
    "create_normalized",
    "model_config",
    "register_model",
    "torch_models",
]
