"""Losses, built by name: ``LOSSES.get('focal')(gamma=2).build(class_counts)``; each returns
``(total, terms)`` (the contract is in ``hartune.losses.base``)."""

# Registers every loss. ``composite`` builds its term union from the losses registered before it, so
# it must come after the single-term modules (alphabetical order happens to give that).
from hartune.losses import balanced, classification, composite  # noqa: F401
from hartune.losses.base import LOSSES, Loss, LossConfig, Terms, register_loss

__all__ = ["LOSSES", "Loss", "LossConfig", "Terms", "register_loss"]
