"""Seed 004's transfer workflow (§3.2): pretrain on ``transfer.pretrain``, then fine-tune a part.

``setup_transfer`` runs once the recipe has built the fine-tune model (under the run seed) for
``cfg.data``: it checks the config against that model, pretrains (the recipe's loop on the pretrain
data, handed in as ``pretrain``), copies the pretrained weights in and freezes all but
``transfer.trainable``. The recipe then re-seeds and builds a fresh optimiser over the trainable
parameters, so fine-tuning's randomness does not depend on pretraining's length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from hartune.data import PreparedData, prepare
from hartune.models import count_parameters, create_model
from hartune.registry import ConfigError
from hartune.train.config import RunConfig
from hartune.train.types import TrainResult

Pretrain = Callable[[RunConfig, PreparedData], TrainResult]  # the recipe's loop, without callbacks


def under(name: str, prefixes: Sequence[str]) -> bool:
    """``name`` lies under one of ``prefixes``, at a module boundary: 'fc' holds 'fc.0.weight', not 'fcx'."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def frozen_modules(model: nn.Module) -> list[nn.Module]:
    """Modules holding parameters or buffers, none of them trainable. Kept in eval mode while
    fine-tuning, their BatchNorm running statistics do not move (nor does dropout act inside them).
    Parameter-free modules, such as the head's dropout, follow their parent, so a fine-tuned part
    trains exactly as it would unfrozen."""
    out = []
    for m in model.modules():
        params, buffers = list(m.parameters()), list(m.buffers())
        if (params or buffers) and not any(p.requires_grad for p in params):
            out.append(m)
    return out


@dataclass
class FineTune:
    """What the recipe keeps of the transfer setup."""

    frozen_modules: list[nn.Module]  # kept in eval mode while training
    num_trainable_parameters: int
    extra: dict[str, object]  # into TrainResult.extra: pretraining's results and what was transferred


def setup_transfer(cfg: RunConfig, model: nn.Module, data: PreparedData, pretrain: Pretrain) -> FineTune:
    """Pretrain on ``cfg.transfer.pretrain``, load those weights into ``model``, freeze all but
    ``transfer.trainable``.

    Pretraining is the recipe run on the pretrain data for ``pretrain_epochs`` with the run's model, loss
    and optimiser settings, keeping its best validation epoch.

    Every pretrained tensor is copied in, except those whose shape differs in the fine-tune model:
    with another class count, that is the final classifier layer (e.g. ``head.1``), which is
    re-initialised, i.e. keeps the fresh model's default PyTorch init drawn under the run seed. A
    re-initialised tensor must be trainable; this is checked before pretraining starts.
    """
    t = cfg.transfer
    assert t is not None
    check_trainable(model, t.trainable, cfg.model.name)
    pre_data = prepare(t.pretrain)
    check_transferable(cfg, model, data, pre_data)
    pre = pretrain(pretrain_config(cfg), pre_data)
    pretrained = {k: v.detach().clone() for k, v in pre.model.model.state_dict().items()}  # CPU
    current = model.state_dict()
    same = {k: v for k, v in pretrained.items() if v.shape == current[k].shape}
    model.load_state_dict({**current, **same})
    for name, p in model.named_parameters():
        p.requires_grad_(under(name, t.trainable))
    extra: dict[str, object] = {
        "pretrain_history": pre.history,
        "pretrain_test": pre.test,
        "pretrain_val": pre.val,
        "pretrain_best_epoch": pre.best_epoch,
        "pretrain_fingerprint": pre.data.fingerprint,
        "pretrained_state": pretrained,  # the core model's state dict after pretraining, before fine-tuning
        "trainable_parameters": [n for n, p in model.named_parameters() if p.requires_grad],
        "reinitialised": sorted(set(pretrained) - set(same)),
    }
    return FineTune(frozen_modules(model), count_parameters(model), extra)


def pretrain_config(cfg: RunConfig) -> RunConfig:
    """The run on the pretrain data: same model, loss and optimiser, ``pretrain_epochs`` long."""
    t = cfg.transfer
    assert t is not None
    epochs = t.pretrain_epochs or cfg.train.epochs
    return cfg.model_copy(update={
        "data": t.pretrain, "transfer": None, "train": cfg.train.model_copy(update={"epochs": epochs}),
    })


def check_trainable(model: nn.Module, prefixes: Sequence[str], model_name: str) -> None:
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(under(n, [prefix]) for n in names):
            top = list(dict.fromkeys(n.split(".")[0] for n in names))
            raise ConfigError(
                f"transfer.trainable: {prefix!r} matches no parameter of model {model_name!r}; "
                f"its top-level modules: {', '.join(top)}"
            )


def check_transferable(cfg: RunConfig, model: nn.Module, data: PreparedData, pre: PreparedData) -> None:
    """Fail before pretraining if the pretrained weights cannot serve the fine-tune ``model``."""
    assert cfg.transfer is not None
    prefixes = cfg.transfer.trainable
    if pre.num_channels != data.num_channels:
        raise ConfigError(
            f"transfer.pretrain: {pre.num_channels} channels {list(pre.channel_names)}, but data has "
            f"{data.num_channels} {list(data.channel_names)}; both phases need the same channels"
        )
    if pre.num_classes == data.num_classes and pre.window == data.window:
        return
    shaped = create_model(
        cfg.model.name, in_channels=pre.num_channels, num_classes=pre.num_classes,
        window=pre.window, **cfg.model.params,
    ).state_dict()
    fresh = [k for k, v in model.state_dict().items() if v.shape != shaped[k].shape]
    frozen = sorted({k.rsplit(".", 1)[0] for k in fresh if not under(k, prefixes)})
    if frozen:
        why = (f"{pre.num_classes} classes in pretraining and {data.num_classes} in data"
               if pre.num_classes != data.num_classes else f"window {pre.window} vs {data.window}")
        raise ConfigError(
            f"transfer.trainable={list(prefixes)}: {why} re-initialises {', '.join(frozen)}, "
            f"which would stay frozen; add {', '.join(map(repr, frozen))} to transfer.trainable"
        )
