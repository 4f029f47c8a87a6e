"""Synthetic training windows (USAD §3.1; ``hartune.augment``) for one run.

``mix`` appends them to the training tensors; ``pretrain`` keeps them apart, and the recipe trains on
them alone for ``pretrain_epochs`` with ``pretrain_loss`` (Eq. 17: cross-entropy) before the real
training (Eq. 18) starts from those weights with the run's loss and a fresh optimiser (§3.1.3-3.1.4).
Validation and test stay real.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from hartune.data import PreparedData
from hartune.losses import Loss
from hartune.train.config import RunConfig

if TYPE_CHECKING:
    from hartune.augment.source import GeneratorSource

Windows = tuple[torch.Tensor, torch.Tensor]  # (N, T, C) normalised windows, (N,) labels, on the device


@dataclass
class Augmented:
    train: Windows  # the training windows: real, plus synthetic with ``mix``
    pretrain: Windows | None  # ``pretrain`` mode: the synthetic windows to pretrain on
    info: dict[str, object]  # TrainResult.extra["augment"]


def augment(
    cfg: RunConfig, data: PreparedData, train: Windows, generators: GeneratorSource | None = None
) -> Augmented:
    """Sample the synthetic windows ``cfg.augment`` asks for (under the run seed) from the generator
    ``generators`` serves (default: one fitted in memory) and place them."""
    from hartune.augment.source import FreshGenerators, synthetic_counts  # matplotlib, for quality reports

    a = cfg.augment
    assert a is not None
    counts = synthetic_counts(data.train.y, data.num_classes, a.ratio, a.counts, data.class_names)
    info: dict[str, object] = {"synthetic_windows": sum(counts.values()), "mode": a.mode}
    if not info["synthetic_windows"]:
        return Augmented(train, None, info)
    cached = (generators or FreshGenerators()).get(data, a.generator)
    x, y = cached.generator.sample(counts, seed=cfg.seed)
    device = train[0].device
    synthetic = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    info.update(key=cached.key, path=str(cached.path) if cached.path else None, trained=cached.trained,
                per_class={data.class_names[k]: n for k, n in counts.items()})
    if a.mode == "mix":
        mixed = torch.cat([train[0], synthetic[0]]), torch.cat([train[1], synthetic[1]])
        return Augmented(mixed, None, info)
    return Augmented(train, synthetic, info)


def pretrain_epochs(cfg: RunConfig) -> int:
    assert cfg.augment is not None
    return cfg.augment.pretrain_epochs or cfg.train.epochs


def pretrain_loss(cfg: RunConfig, labels: torch.Tensor, num_classes: int, run_loss: Loss) -> Loss:
    """The loss of pretraining on the synthetic windows ``labels`` (Eq. 17): ``augment.pretrain_loss``
    built on their class counts, or ``run_loss`` itself with ``pretrain_loss: run``."""
    assert cfg.augment is not None
    chosen = cfg.augment.pretrain_loss
    if chosen == "run":
        return run_loss
    counts = torch.bincount(labels.cpu(), minlength=num_classes).tolist()
    return chosen.build(counts).to(labels.device)
