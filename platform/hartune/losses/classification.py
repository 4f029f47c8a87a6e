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


def class_alpha(alpha: float, class_counts: Sequence[int], rule: str) -> list[float]:
    """Per-class α_c of a scalar α. ``minority``: α for every class with fewer training windows than the
    mean count N/K (less than its balanced share), 1 - α for the others, as Lin et al.'s α weighs the
    rare foreground class α and the background 1 - α. ``uniform``: α for every class."""
    if rule == "uniform":
        return [alpha] * len(class_counts)
    share = sum(class_counts) / len(class_counts)
    return [alpha if n < share else 1.0 - alpha for n in class_counts]


@register_loss
class FocalConfig(LossConfig):
    """α is a scalar or a per-class list; γ ≥ 0 (γ = 0 with α_c = 1 is cross-entropy).

    Eq. 24 calls α "the sample weight factor" and Appendix C.1 says it "balances the loss weights of
    different classes"; the paper gives no rule. A scalar α applied to every class only scales the loss
    by a constant, which Adam cancels (two α of Table 9 would then train the same model), so by default
    (``alpha_rule: minority``) a scalar is Lin et al.'s α-balancing carried over to K classes:
    α for the minority classes (training count below the mean count), 1 - α for the rest
    (``class_alpha``). ``alpha_rule: uniform`` is the constant factor (hartune's behaviour up to commit
    6e9d4e2). A per-class list is taken as given.
    """

    name: Literal["focal"] = "focal"
    gamma: float = Field(2.0, ge=0.0)
    alpha: float | list[float] = Field(0.25)
    alpha_rule: Literal["minority", "uniform"] = "minority"  # how a scalar α becomes per-class weights

    def build(self, class_counts: Sequence[int]) -> Loss:
        k = len(class_counts)
        alpha = self.alpha if isinstance(self.alpha, list) else class_alpha(self.alpha, class_counts, self.alpha_rule)
        if len(alpha) != k:
            raise ValueError(f"loss.alpha has {len(alpha)} entries; the dataset has {k} classes")
        return FocalLoss(self.gamma, torch.tensor(alpha, dtype=torch.float32))
