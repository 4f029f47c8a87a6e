"""The composite loss (USAD §3.3, Eq. 26), its adaptive weighting (Eq. 27) and Table 2's loss rows.

A composite is a weighted sum of named terms, each any single-term registered loss; by default the
paper's CE + focal + label smoothing at the Appendix C.1 optima (γ = 1, α = 0.25, ε = 0.05). It returns
``(total, {term: value})``; the recipe logs every term per epoch (``train_loss_<term>``) and the weights
the composite reports at each epoch's end (``loss_weight_<term>``).

Weights are given as a list in term order or a mapping by term name, and are normalised to sum to 1
(so "unweighted" means equal weights, and a search may sample each weight independently).

Registered names (Table 2's loss rows): ``composite`` / ``compound`` (equal weights: "Compound Loss"),
``combination1`` (0.3/0.4/0.3), ``combination2`` (0.15/0.7/0.15) and ``acl`` (adaptive, starting from
Table 10's best row: [0.33, 0.33, 0.34], temperature 1, bounds [0.1, 0.8]). The weights follow the
paper's term order CE, focal, label smoothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from hartune.losses.base import LOSSES, Loss, LossConfig, Terms, register_loss
from hartune.losses.classification import CrossEntropyConfig, FocalConfig, LabelSmoothingConfig

TermLoss = LOSSES.union("name")  # the single-term losses registered so far (composites excluded)


def bounded_normalise(w: np.ndarray, low: float, high: float) -> np.ndarray:
    """Weights summing to 1 with every one in [low, high] (requires K·low <= 1 <= K·high).

    Normalise, clip, then hand the excess (or deficit) out in equal shares to the weights not yet at
    the bound it pushes against, clipping again; each pass pins at least one more weight, so K passes
    suffice. Plain "clip then divide by the sum" would push weights back out of the bounds.
    """
    w = np.clip(w / w.sum(), low, high)
    for _ in range(len(w)):
        rest = 1.0 - w.sum()
        if abs(rest) < 1e-12:
            break
        free = w < high if rest > 0 else w > low
        w = np.clip(w + np.where(free, rest / free.sum(), 0.0), low, high)
    return w


class AdaptiveConfig(BaseModel):
    """Knobs of the per-epoch weight controller (Table 10: temperature, min and max weight)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(1.0, gt=0.0, description="accuracy change (percentage points) of a ~3/4 step")
    rate: float = Field(0.1, gt=0.0, le=1.0, description="largest log-change of a weight per epoch")
    min_weight: float = Field(0.1, ge=0.0, lt=1.0)
    max_weight: float = Field(0.8, gt=0.0, le=1.0)
    metric: Literal["accuracy", "f1_macro"] = Field("accuracy", description="validation metric it follows")

    @model_validator(mode="after")
    def _ordered(self) -> AdaptiveConfig:
        if self.min_weight >= self.max_weight:
            raise ValueError(f"min_weight={self.min_weight} must be < max_weight={self.max_weight}")
        return self


class AdaptiveWeights:
    """The adaptive weighting of USAD §3.3 (Eq. 27), once per epoch.

    The printed rule (as transcribed: ω1 = 2 − τ − 1/(acc + 1e−8), ω0 = ω2 = (1 − ω1)/2) is ambiguous
    and goes negative (any acc < 1/(1 − τ) gives ω1 < 0 when τ ≥ 0). We implement the rule its text
    describes ("if the current epoch's accuracy exceeds the previous one, the higher weight is slightly
    reduced and the lower slightly increased, and vice versa"), exactly:

    1. Δ = 100 · (a_e − a_{e−1}), the change of validation accuracy in percentage points (epoch 1 has
       no predecessor: no change).
    2. σ = rate · tanh(Δ / temperature). ``rate`` bounds the step; ``temperature`` sets how large an
       accuracy change earns a full step: a low temperature makes every change a full step (weights
       drift to the extremes), a high one makes steps tiny (weights stay near where they started),
       as Table 10's remarks describe. h = the first term of largest weight, l = the last of smallest.
       If σ > 0 the pair moves toward each other, at most until equal: σ ← min(σ, ½ ln(w_h / w_l)).
    3. w_h ← w_h · e^{−σ}, w_l ← w_l · e^{+σ}: a shift of log-weight (a softmax logit) between the
       highest- and lowest-weighted terms. Multiplicative, so no weight can go negative.
    4. Divide by the sum, clip every weight to [min_weight, max_weight] and renormalise to sum to 1
       without leaving the bounds (``bounded_normalise``). The initial weights get step 4 as well.
    """

    def __init__(self, names: Sequence[str], initial: np.ndarray, cfg: AdaptiveConfig) -> None:
        self.names, self.cfg = list(names), cfg
        self.weights = bounded_normalise(np.asarray(initial, dtype=np.float64), cfg.min_weight, cfg.max_weight)
        self.previous: float | None = None

    def step_size(self, value: float) -> float:
        if self.previous is None:
            return 0.0
        delta_pp = 100.0 * (value - self.previous)
        return self.cfg.rate * math.tanh(delta_pp / self.cfg.temperature)

    def update(self, value: float) -> np.ndarray:
        """Feed the epoch's validation accuracy; returns the weights for the next epoch."""
        sigma, w = self.step_size(value), self.weights.copy()
        self.previous = value
        h = int(np.argmax(w))
        lo = len(w) - 1 - int(np.argmax(w[::-1] == w.min()))
        if sigma > 0:
            sigma = min(sigma, 0.5 * math.log(w[h] / w[lo])) if w[lo] > 0 else sigma
        if sigma != 0.0 and h != lo:
            w[h] *= math.exp(-sigma)
            w[lo] *= math.exp(sigma)
        self.weights = bounded_normalise(w, self.cfg.min_weight, self.cfg.max_weight)
        return self.weights


class CompositeLoss(Loss):
    """Σ_i w_i · L_i(logits, target); returns the total and each term's value (the terms' own totals)."""

    def __init__(
        self, terms: Mapping[str, Loss], weights: np.ndarray, controller: AdaptiveWeights | None = None
    ) -> None:
        super().__init__()
        self.terms = nn.ModuleDict(dict(terms))
        self.controller = controller
        start = controller.weights if controller is not None else weights
        self.register_buffer("weights", torch.tensor(start, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        values = {name: term(logits, target)[0] for name, term in self.terms.items()}
        total = sum(w * v for w, v in zip(self.weights, values.values()))
        return total, {name: v.detach() for name, v in values.items()}

    def get_extra_state(self) -> dict[str, Any]:
        """The controller's memory (kept in ``state_dict``, so a resumed run continues it)."""
        c = self.controller
        return {} if c is None else {"weights": c.weights.tolist(), "previous": c.previous}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if self.controller is not None and state:
            self.controller.weights = np.asarray(state["weights"], dtype=np.float64)
            self.controller.previous = state["previous"]

    def on_epoch_end(self, epoch: int, val_metrics: Mapping[str, float]) -> dict[str, float]:
        """Log the weights this epoch trained with; an adaptive composite then updates them. Without a
        validation split (a refit on every subject) the recipe passes the training accuracy; a metric
        it does not have leaves the weights where they are."""
        used = {f"loss_weight_{n}": float(w) for n, w in zip(self.terms, self.weights.tolist())}
        if self.controller is not None and self.controller.cfg.metric in val_metrics:
            new = self.controller.update(float(val_metrics[self.controller.cfg.metric]))
            self.weights.copy_(torch.as_tensor(new, dtype=torch.float32))
        return used


def _paper_terms() -> dict[str, Any]:
    return {
        "ce": CrossEntropyConfig(),
        "focal": FocalConfig(gamma=1.0, alpha=0.25),
        "label_smoothing": LabelSmoothingConfig(epsilon=0.05),
    }


@register_loss
class CompositeConfig(LossConfig):
    """A weighted sum of named terms (``terms`` in order), fixed or adaptive (``adaptive``)."""

    name: Literal["composite"] = "composite"
    terms: dict[str, TermLoss] = Field(default_factory=_paper_terms, min_length=1)  # type: ignore[valid-type]
    weights: list[float] | dict[str, float] | None = Field(None, description="default: equal weights")
    adaptive: AdaptiveConfig | None = None

    @model_validator(mode="after")
    def _check_weights(self) -> CompositeConfig:
        w = self.weights
        if isinstance(w, dict) and set(w) != set(self.terms):
            raise ValueError(f"weights has keys {sorted(w)}; terms are {list(self.terms)}")
        if isinstance(w, list) and len(w) != len(self.terms):
            raise ValueError(f"weights has {len(w)} entries; terms has {len(self.terms)} ({', '.join(self.terms)})")
        values = self.weight_vector()
        if (values < 0).any() or not values.sum() > 0:
            raise ValueError(f"weights {w} must be >= 0 with a positive sum")
        a, k = self.adaptive, len(self.terms)
        if a is not None and not (k * a.min_weight <= 1.0 + 1e-9 and k * a.max_weight >= 1.0 - 1e-9):
            raise ValueError(
                f"adaptive bounds [{a.min_weight}, {a.max_weight}] cannot hold {k} weights summing to 1; "
                f"need min_weight <= {1 / k:.4g} <= max_weight"
            )
        return self

    def weight_vector(self) -> np.ndarray:
        """Raw weights in term order (before normalisation)."""
        w = self.weights
        if w is None:
            return np.ones(len(self.terms))
        if isinstance(w, dict):
            return np.array([w[n] for n in self.terms], dtype=np.float64)
        return np.array(w, dtype=np.float64)

    def build(self, class_counts: Sequence[int]) -> Loss:
        terms = {n: t.build(class_counts) for n, t in self.terms.items()}
        w = self.weight_vector()
        w = w / w.sum()
        controller = AdaptiveWeights(list(terms), w, self.adaptive) if self.adaptive is not None else None
        return CompositeLoss(terms, w, controller)


@register_loss
class CompoundConfig(CompositeConfig):
    """Table 2 "Compound Loss": CE + focal + label smoothing, unweighted (equal weights)."""

    name: Literal["compound"] = "compound"  # type: ignore[assignment]


@register_loss
class Combination1Config(CompositeConfig):
    """Table 2 "Combination 1": fixed weights 0.3 / 0.4 / 0.3 (CE, focal, label smoothing)."""

    name: Literal["combination1"] = "combination1"  # type: ignore[assignment]
    weights: list[float] | dict[str, float] | None = Field(default_factory=lambda: [0.3, 0.4, 0.3])


@register_loss
class Combination2Config(CompositeConfig):
    """Table 2 "Combination 2": fixed weights 0.15 / 0.7 / 0.15 (CE, focal, label smoothing)."""

    name: Literal["combination2"] = "combination2"  # type: ignore[assignment]
    weights: list[float] | dict[str, float] | None = Field(default_factory=lambda: [0.15, 0.7, 0.15])


@register_loss
class ACLConfig(CompositeConfig):
    """Table 2 "ACL": the adaptive composite, from Table 10's best row."""

    name: Literal["acl"] = "acl"  # type: ignore[assignment]
    weights: list[float] | dict[str, float] | None = Field(default_factory=lambda: [0.33, 0.33, 0.34])
    adaptive: AdaptiveConfig | None = AdaptiveConfig()
