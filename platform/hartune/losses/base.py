"""The loss registry. Every loss is a module ``(logits (B, K), target (B,)) -> scalar``; its typed
config (``name`` picks it) builds it given the training split's class counts."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict
from torch import nn

from hartune.registry import Registry


class LossConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str

    def build(self, class_counts: Sequence[int]) -> nn.Module:
        raise NotImplementedError


LOSSES: Registry[type[LossConfig]] = Registry("loss")


register_loss = LOSSES.register_config("name")
