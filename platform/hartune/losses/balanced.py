"""Class-balanced loss (Cui et al., CVPR 2019), over cross-entropy or focal.

Class c with n_c training windows has the effective number E_c = (1 - β^n_c) / (1 - β) and the
weight w_c = 1 / E_c = (1 - β) / (1 - β^n_c), normalised so that Σ_c w_c = K (Cui et al., Eq. 9 and
their reference code). The loss is the batch mean of w_y · ℓ(x, y) with ℓ the per-window CE or focal
term (their code divides by the batch size, not by Σ w_y as PyTorch's weighted CE would).

β = 0 gives w_c = 1 (plain CE or focal); β → 1 tends to inverse class frequency. A class absent from
the training split counts as n_c = 1 (it is never a target there, so its weight only has to be finite).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from hartune.losses.base import Loss, LossConfig, Terms, register_loss


def class_balanced_weights(class_counts: Sequence[int], beta: float) -> np.ndarray:
    """(K,) weights (1 - β) / (1 - β^n_c), scaled to sum to K."""
    n = np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)
    w = (1.0 - beta) / (1.0 - np.power(beta, n))
    return w * len(w) / w.sum()


class ClassBalancedLoss(Loss):
    """mean_i w_{y_i} · (1 - p_{y_i})^γ · (-log p_{y_i}); γ = 0 is the class-balanced CE."""

    def __init__(self, weights: torch.Tensor, gamma: float) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weights", weights)  # (K,)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        logp = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)  # (B,)
        focus = (1 - logp.exp()).pow(self.gamma) if self.gamma else 1.0
        return (-self.weights[target] * focus * logp).mean(), {}


@register_loss
class ClassBalancedConfig(LossConfig):
    """Class-balanced CE (``base: ce``) or focal (``base: focal`` with ``gamma``), weighted by β."""

    name: Literal["class_balanced"] = "class_balanced"
    beta: float = Field(0.9, ge=0.0, lt=1.0)  # the paper's independent optimum (Appendix C.1)
    base: Literal["ce", "focal"] = "ce"
    gamma: float = Field(2.0, ge=0.0, description="focal exponent; used with base: focal only")

    def build(self, class_counts: Sequence[int]) -> Loss:
        w = torch.tensor(class_balanced_weights(class_counts, self.beta), dtype=torch.float32)
        return ClassBalancedLoss(w, self.gamma if self.base == "focal" else 0.0)
