"""Losses, built by name: ``LOSSES.get('focal')(gamma=2).build(class_counts)``."""

from hartune.losses import classification  # noqa: F401  (registers)
from hartune.losses.base import LOSSES, LossConfig, register_loss

__all__ = ["LOSSES", "LossConfig", "register_loss"]
