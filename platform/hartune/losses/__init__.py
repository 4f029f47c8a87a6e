"""Losses, built by name: ``LOSSES.get('focal')(gamma=2).build(class_counts)``."""

# Single-term losses first: the composite's term union is built from what is registered before it.
from hartune.losses import balanced, classification  # noqa: F401  (registers)
from hartune.losses import composite  # noqa: F401, I001  (registers; after the single terms)
from hartune.losses.base import LOSSES, LossConfig, register_loss

__all__ = ["LOSSES", "LossConfig", "register_loss"]
