"""The loss registry and the one loss contract.

Every built loss is a ``Loss``: ``forward(logits (B, K), target (B,)) -> (total, terms)`` with ``total``
a scalar to minimise and ``terms`` its named parts, detached, which the recipe logs per epoch as
``train_loss_<term>``. A single-term loss returns ``(loss, {})``: it has no parts besides the total
(``train_loss`` already logs it), so its ``terms`` stay empty rather than repeating it under a name.
``on_epoch_end`` is called by the recipe after every epoch; a loss that adapts (the adaptive composite)
updates itself there. Its typed config (``name`` picks it) builds it given the training split's class
counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from hartune.registry import Registry

Terms = dict[str, torch.Tensor]  # term name -> its detached scalar value


class Loss(nn.Module):
    """Base of every built loss; subclasses implement ``forward``."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        """(B, K) logits, (B,) class indices -> (scalar total, named terms)."""
        raise NotImplementedError

    def on_epoch_end(self, epoch: int, val_metrics: Mapping[str, float]) -> dict[str, float]:
        """After epoch ``epoch`` (from 1), given its validation metrics; returns metrics to log with it.
        The default does nothing and logs nothing."""
        return {}


class LossConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str

    def build(self, class_counts: Sequence[int]) -> Loss:
        raise NotImplementedError


LOSSES: Registry[type[LossConfig]] = Registry("loss")


register_loss = LOSSES.register_config("name")
