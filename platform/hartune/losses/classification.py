"""Single-term classification losses: cross-entropy, label smoothing (Eq. 25), focal (Eq. 24)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from hartune.losses.base import Loss, LossConfig, Terms, register_loss


class CrossEntropyLoss(Loss):
    """Mean cross-entropy, against (1-ε)·onehot + ε/K targets when ``epsilon`` > 0 (Eq. 23, 25)."""

    def __init__(self, epsilon: float = 0.0) -> None:
        super().__init__()
        self.epsilon = epsilon

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        return F.cross_entropy(logits, target, label_smoothing=self.epsilon), {}


@register_loss
class CrossEntropyConfig(LossConfig):
    """Plain cross-entropy (Eq. 23)."""

    name: Literal["ce"] = "ce"

    def build(self, class_counts: Sequence[int]) -> Loss:
        return CrossEntropyLoss()


@register_loss
class LabelSmoothingConfig(LossConfig):
    """Cross-entropy against (1-ε)·onehot + ε/K (Eq. 25)."""

    name: Literal["label_smoothing"] = "label_smoothing"
    epsilon: float = Field(0.05, ge=0.0, lt=1.0)  # the paper's best ε on PAMAP2 (Appendix C.1)

    def build(self, class_counts: Sequence[int]) -> Loss:
        return CrossEntropyLoss(self.epsilon)


class FocalLoss(Loss):
    """Focal loss (Lin et al. 2017; Eq. 24): mean of -α_y (1 - p_y)^γ log p_y."""

    def __init__(self, gamma: float, alpha: torch.Tensor) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("alpha", alpha)  # (K,)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        logp = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)  # (B,)
        p = logp.exp()
        return (-self.alpha[target] * (1 - p).pow(self.gamma) * logp).mean(), {}


@register_loss
class FocalConfig(LossConfig):
    """α is one scalar for every class or a per-class list; γ ≥ 0 (γ = 0, α = 1 is cross-entropy)."""

    name: Literal["focal"] = "focal"
    gamma: float = Field(2.0, ge=0.0)
    alpha: float | list[float] = Field(0.25)

    def build(self, class_counts: Sequence[int]) -> Loss:
        k = len(class_counts)
        alpha = self.alpha if isinstance(self.alpha, list) else [self.alpha] * k
        if len(alpha) != k:
            raise ValueError(f"loss.alpha has {len(alpha)} entries; the dataset has {k} classes")
        return FocalLoss(self.gamma, torch.tensor(alpha, dtype=torch.float32))
