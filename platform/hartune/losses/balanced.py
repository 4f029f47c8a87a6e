"""Class-balanced loss (Cui et al., CVPR 2019), over cross-entropy or focal, in a softmax or a sigmoid form.

Class c with n_c training windows has the effective number E_c = (1 - β^n_c) / (1 - β) and the
weight w_c = 1 / E_c = (1 - β) / (1 - β^n_c), normalised so that Σ_c w_c = K (Cui et al., Eq. 9 and
their reference code). Every window i is weighted by its class's w_{y_i}.

Two forms, by name (``form``):

* ``softmax`` (the default): the batch mean of w_y · (1 - p_y)^γ · (-log p_y) with p = softmax(logits),
  i.e. class-balanced softmax cross-entropy (γ = 0, Cui et al. §4) or softmax focal. The default because
  USAD's composite (Eq. 26) adds this term to softmax CE, focal (Eq. 24) and label smoothing on the same
  logits, and every prediction and metric reads the softmax; it is also hartune's behaviour up to commit
  6e9d4e2.
* ``sigmoid``: Cui et al.'s reference code (``richardaecn/class-balanced-loss``; its PyTorch port
  ``vandit15/Class-balanced-loss-pytorch``, ``focal_loss``): K one-vs-rest sigmoid terms per window,
  Σ_i Σ_k w_{y_i} · (1 - p_t)^γ · BCE(z_ik, [k = y_i]) with p_t the sigmoid probability of the true
  binary outcome, summed over classes and divided by the number of positives (the batch size). With the
  same inputs it is about twice the softmax form's value (it counts the K - 1 negatives too).

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


class SigmoidClassBalancedLoss(ClassBalancedLoss):
    """Cui et al.'s reference form: Σ_{i,k} w_{y_i} (1 - p_t)^γ BCE(z_ik, onehot_ik) / Σ onehot."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        onehot = F.one_hot(target, logits.shape[1]).to(logits.dtype)  # (B, K)
        bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")  # (B, K)
        # 1 - p_t = sigmoid(-z) for the true class, sigmoid(z) for the others: sigmoid((1 - 2y) z)
        focus = torch.exp(self.gamma * F.logsigmoid((1 - 2 * onehot) * logits)) if self.gamma else 1.0
        return (self.weights[target, None] * focus * bce).sum() / onehot.sum(), {}


@register_loss
class ClassBalancedConfig(LossConfig):
    """Class-balanced CE (``base: ce``) or focal (``base: focal`` with ``gamma``), weighted by β, in the
    ``softmax`` form (default) or Cui et al.'s reference ``sigmoid`` form (module docstring)."""

    name: Literal["class_balanced"] = "class_balanced"
    beta: float = Field(0.9, ge=0.0, lt=1.0)  # the paper's independent optimum (Appendix C.1)
    base: Literal["ce", "focal"] = "ce"
    gamma: float = Field(2.0, ge=0.0, description="focal exponent; used with base: focal only")
    form: Literal["softmax", "sigmoid"] = "softmax"  # sigmoid: Cui et al.'s reference code

    def build(self, class_counts: Sequence[int]) -> Loss:
        w = torch.tensor(class_balanced_weights(class_counts, self.beta), dtype=torch.float32)
        loss = SigmoidClassBalancedLoss if self.form == "sigmoid" else ClassBalancedLoss
        return loss(w, self.gamma if self.base == "focal" else 0.0)
