"""The trainer registry: every model family has a trainer, and ``train`` dispatches on it."""

from __future__ import annotations

from hartune.models import MODELS
from hartune.train import recipe, sklearn
from hartune.train.types import TRAINERS


def test_every_model_family_has_a_trainer() -> None:
    families = {MODELS.get(n).family for n in MODELS}
    assert families == {"torch", "sklearn"} and families <= set(TRAINERS.names())
    assert TRAINERS.get("torch") is recipe.train_torch and TRAINERS.get("sklearn") is sklearn.train_sklearn
