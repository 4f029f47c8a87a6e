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


def register_loss(cls: type[LossConfig]) -> type[LossConfig]:
    LOSSES.register(cls.model_fields["name"].annotation.__args__[0])(cls)
    return cls
