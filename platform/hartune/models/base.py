"""The one classifier interface, the model registry and its factory.

Every classifier takes windows ``(B, T, C)`` and returns logits ``(B, K)``; ``features`` returns the
penultimate representation ``(B, D)`` used for t-SNE and the Appendix-B distances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from hartune.registry import ConfigError, Registry, validate_config

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class ModelConfig(BaseModel):
    """Base of every model family's typed knobs. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)




class HARClassifier(nn.Module):
    """Base class: subclasses build ``self.head`` and implement ``features``."""

    head: nn.Module

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, D) penultimate features."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, K)

    def auxiliary_loss(self, x: torch.Tensor) -> torch.Tensor | None:
        """An extra training term from the (normalised) batch ``(B, T, C)``, already weighted, e.g. a
        denoising-autoencoder reconstruction penalty; ``None`` for plain classifiers. The recipe adds
        it to the classification loss and logs it as the term ``aux``."""
        return None


class Normalized(nn.Module):
    """A classifier with its per-channel z-score kept inside, so it accepts raw windows.

    ``mean``/``std`` are buffers fitted on the training split only; they travel with the state dict.
    """

    def __init__(self, model: HARClassifier, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean.reshape(1, 1, -1).clone())  # (1, 1, C)
        self.register_buffer("std", std.reshape(1, 1, -1).clone())

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(x))


@torch.no_grad()
def embeddings(model: HARClassifier, x: torch.Tensor, batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features ``(N, D)`` and logits ``(N, K)`` of normalised windows ``(N, T, C)``, in eval
    mode and in batches: the two spaces the Appendix-B distances can be measured in."""
    model.eval()
    feats = torch.cat([model.features(x[i : i + batch]).reshape(len(x[i : i + batch]), -1)
                       for i in range(0, len(x), batch)])  # (N, D)
    logits = torch.cat([model.head(feats[i : i + batch]) for i in range(0, len(feats), batch)])  # (N, K)
    return feats, logits


# "torch": a HARClassifier trained per epoch (``create_model``); "sklearn": a scikit-learn pipeline fitted
# once (``create_estimator``). The trainer of a family is looked up by this name (``hartune.train``).
Family = Literal["torch", "sklearn"]
# (in_channels, num_classes, window, config) -> a HARClassifier ("torch") or a Pipeline ("sklearn")
Builder = Callable[[int, int, int, Any], Any]
FACTORY: dict[Family, str] = {"torch": "create_model", "sklearn": "create_estimator"}


@dataclass(frozen=True)
class ModelEntry:
    config_cls: type[ModelConfig]
    builder: Builder
    defaults: dict[str, Any]  # a named variant's preset knobs, e.g. spatial_attention=False
    doc: str
    family: Family = "torch"


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(
    name: str, config_cls: type[ModelConfig], *, family: Family = "torch", **defaults: Any
) -> Callable[[Builder], Builder]:
    """Register ``builder`` under ``name``; ``defaults`` make it a named paper variant."""

    def deco(builder: Builder) -> Builder:
        MODELS.register(name)(ModelEntry(config_cls, builder, dict(defaults), builder.__doc__ or "", family))
        return builder

    return deco


class ModelConfigError(ConfigError):
    """Bad knobs for a model; the message names the key, value and what is accepted."""


def model_config(name: str, **params: Any) -> ModelConfig:
    """Validate ``params`` for model ``name`` (after its variant defaults) into its typed config."""
    entry = MODELS.get(name)
    try:
        return validate_config(entry.config_cls, {**entry.defaults, **params}, prefix=name)
    except ConfigError as e:
        raise ModelConfigError(f"model {e}") from None


def _build(
    family: Family, name: str, in_channels: int, num_classes: int, window: int, params: dict[str, Any]
) -> Any:
    entry = MODELS.get(name)
    if entry.family != family:
        raise ModelConfigError(
            f"model {name!r} is a {entry.family} model, not a {family} one; "
            f"build it with {FACTORY[entry.family]}"
        )
    return entry.builder(in_channels, num_classes, window, model_config(name, **params))


def create_model(
    name: str, *, in_channels: int, num_classes: int, window: int, **params: Any
) -> HARClassifier:
    """The factory of torch classifiers: ``create_model('usad', in_channels=6, num_classes=7, window=100)``.
    A scikit-learn model (``family="sklearn"``) is a ``ConfigError`` here: see ``create_estimator``."""
    return _build("torch", name, in_channels, num_classes, window, params)


def create_estimator(
    name: str, *, in_channels: int, num_classes: int, window: int, **params: Any
) -> Pipeline:
    """An unfitted scikit-learn pipeline for a ``family="sklearn"`` model, e.g. ``random_forest``; it takes
    (N, T, C) normalised windows. A torch classifier is a ``ConfigError`` here: see ``create_model``."""
    return _build("sklearn", name, in_channels, num_classes, window, params)


def create_normalized(name: str, *, in_channels: int, num_classes: int, window: int, **params: Any) -> Normalized:
    """A fresh model wrapped in ``Normalized`` with identity statistics: the shape to ``load_state_dict``
    a trained one into (its weights and its training split's mean/std travel in the state dict)."""
    core = create_model(name, in_channels=in_channels, num_classes=num_classes, window=window, **params)
    return Normalized(core, torch.zeros(in_channels), torch.ones(in_channels))


def torch_models() -> list[str]:
    """The registered names of the PyTorch classifiers (the ones trained per epoch)."""
    return [n for n in MODELS.names() if MODELS.get(n).family == "torch"]


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (what the paper's Table 5 counts)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
