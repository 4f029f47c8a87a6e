"""Classifiers for (B, T, C) windows, built by name: ``create_model('usad', in_channels=..., ...)``."""

from hartune.models import (  # noqa: F401  (registers)
    atfa,
    bottleneck_resnet,
    cnn,
    conv_recurrent,
    dae_cnn,
    danhar,
    deepconvlstm,
    forest,
    gated_res2net,
    har_ce,
    hs_cnn,
    lightweight,
    recurrent,
    resnet1d,
    rev_attention,
    se_res2net,
    tccsnet,
    usad,
)
from hartune.models.base import (
    MODELS,
    HARClassifier,
    ModelConfig,
    ModelConfigError,
    Normalized,
    count_parameters,
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
    "create_model",
    "create_normalized",
    "model_config",
    "register_model",
    "torch_models",
]
