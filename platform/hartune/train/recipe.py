"""The one training recipe: every model, the CLI and the Ray Tune trainable call ``train``.

setup (data, model, loss, optimiser) -> per epoch: train, validate, report to callbacks, keep the best
-> evaluate the best epoch on test. Pure: no printing, no files, no tracking; callbacks carry the
per-epoch metrics to whoever listens (the CLI's printer, Tune's reporter, MLflow).
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hartune.data import PreparedData, prepare
from hartune.models import Normalized, count_parameters, create_model
from hartune.registry import ConfigError
from hartune.train.config import RunConfig

if TYPE_CHECKING:
    from hartune.augment.source import GeneratorSource
from hartune.train.metrics import classification_metrics

EVAL_BATCH = 1024  # windows per forward pass at evaluation; memory-bound only


class Callback(Protocol):
    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        """``epoch`` counts from 1; ``metrics`` holds train_*, val_* and lr for that epoch."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf: the run is failed, not silently continued."""


@dataclass
class TrainResult:
    config: RunConfig
    test: dict[str, float]  # metrics of the best epoch on the test split
    val: dict[str, float]  # metrics of the best epoch on the validation split
    best_epoch: int
    history: list[dict[str, float]]  # one dict per epoch, as reported to callbacks
    model: Normalized  # on CPU, eval mode, accepts raw (un-normalised) windows
    data: PreparedData
    test_true: np.ndarray  # (N,)
    test_prob: np.ndarray  # (N, K)
    num_parameters: int
    stopped_early: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def cpu_latency_ms(model: nn.Module, window: int, channels: int) -> float:
    """Median batch-1 CPU latency of ``model`` (30 passes after 5), measured on a CPU copy when it
    lives elsewhere; the weights do not matter, so it is measured once, before training."""
    from hartune.deploy import median_latency_ms

    cpu = copy.deepcopy(model).cpu().eval() if next(model.parameters()).device.type != "cpu" else model
    was_training = cpu.training
    cpu.eval()
    try:
        with torch.inference_mode():
            return median_latency_ms(cpu, torch.zeros(1, window, channels))
    finally:
        cpu.train(was_training)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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


def is_better(metric: str, new: float, best: float | None) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(new)
    return new < best if metric == "loss" else new > best


@dataclass
class LoopState:
    """The training loop's bookkeeping after ``epoch`` finished epochs."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_score: float | None = None
    best_epoch: int = 0
    best_state: dict[str, Any] | None = None
    best_val: dict[str, float] = field(default_factory=dict)
    stale: int = 0
    stopped_early: bool = False


class Recipe:
    """``Recipe(cfg).run()``; the private ``_setup_*`` steps read top to bottom."""

    def __init__(
        self, cfg: RunConfig, callbacks: Sequence[Callback] = (), data: PreparedData | None = None,
        generators: GeneratorSource | None = None,
    ) -> None:
        self.cfg = cfg
        self.callbacks = list(callbacks)
        self._data = data
        self.generators = generators  # where augmentation gets its generator (default: fit in memory)
        self.extra: dict[str, object] = {}  # TrainResult.extra (the transfer recipe's pretraining)
        self._frozen_modules: list[nn.Module] = []  # kept in eval mode while training (transfer)

    # -- setup -----------------------------------------------------------------------------------
    def _setup_data(self) -> None:
        self.data = self._data if self._data is not None else prepare(self.cfg.data)
        to = lambda p: (torch.from_numpy(p.x).to(self.device), torch.from_numpy(p.y).to(self.device))  # noqa: E731
        # The whole split lives on the device as tensors: batches are index slices, no __getitem__.
        self.train_x, self.train_y = to(self.data.train)
        self.val_x, self.val_y = to(self.data.val)
        self.test_x, self.test_y = to(self.data.test)

    def _setup_model(self) -> None:
        seed_everything(self.cfg.seed)  # the model's init depends on the seed alone
        self.model = create_model(
            self.cfg.model.name,
            in_channels=self.data.num_channels,
            num_classes=self.data.num_classes,
            window=self.data.window,
            **self.cfg.model.params,
        ).to(self.device)

    def _setup_augment(self) -> None:
        """Synthetic training windows (USAD §3.1): ``mix`` appends them to the training tensors,
        ``pretrain`` keeps them for ``_pretrain_synthetic``. Validation and test stay real."""
        from hartune.augment.source import FreshGenerators, synthetic_counts

        a, d = self.cfg.augment, self.data
        assert a is not None
        counts = synthetic_counts(d.train.y, d.num_classes, a.ratio, a.counts, d.class_names)
        info: dict[str, object] = {"synthetic_windows": sum(counts.values()), "mode": a.mode}
        if info["synthetic_windows"]:
            cached = (self.generators or FreshGenerators()).get(d, a.generator)
            x, y = cached.generator.sample(counts, seed=self.cfg.seed)
            sx, sy = torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)
            if a.mode == "mix":
                self.train_x, self.train_y = torch.cat([self.train_x, sx]), torch.cat([self.train_y, sy])
            else:
                self.synthetic = (sx, sy)
            info.update(key=cached.key, path=str(cached.path) if cached.path else None, trained=cached.trained,
                        per_class={d.class_names[k]: n for k, n in counts.items()})
        self.extra["augment"] = info

    def _pretrain_synthetic(self) -> None:
        """``pretrain`` mode: train on the synthetic windows alone, then start the real training with a
        fresh optimiser (and schedule) from those weights."""
        a = self.cfg.augment
        assert a is not None
        real = (self.train_x, self.train_y)
        self.train_x, self.train_y = self.synthetic
        history = [self.train_epoch(e) for e in range(1, (a.pretrain_epochs or self.cfg.train.epochs) + 1)]
        self.train_x, self.train_y = real
        seed_everything(self.cfg.seed)
        self._setup_optimizer()
        self.extra["synthetic_pretrain_history"] = history

    def _setup_loss(self) -> None:
        # the windows it trains on: with ``mix`` augmentation, real + synthetic (class-balanced losses)
        counts = np.bincount(self.train_y.cpu().numpy(), minlength=self.data.num_classes).tolist()
        self.loss_fn = self.cfg.loss.build(counts).to(self.device)

    def _setup_optimizer(self) -> None:
        t = self.cfg.train
        opt = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        params = [p for p in self.model.parameters() if p.requires_grad]  # all but frozen (transfer)
        self.optimizer = opt(params, lr=t.lr, weight_decay=t.weight_decay)
        if t.lr_schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=t.epochs)
        elif t.lr_schedule == "step":
            self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, t.step_size, t.step_gamma)
        else:
            self.scheduler = None

    def setup(self) -> None:
        if self.cfg.train.num_threads:
            torch.set_num_threads(self.cfg.train.num_threads)
        self.device = pick_device(self.cfg.train.device)
        self._setup_data()
        if self.cfg.augment is not None:
            self._setup_augment()
        self._setup_model()
        self._setup_loss()
        self._setup_optimizer()
        self.generator = torch.Generator().manual_seed(self.cfg.seed)  # batch order
        self.num_parameters = count_parameters(self.model)
        self.latency_ms = cpu_latency_ms(self.model, self.data.window, self.data.num_channels)
        if self.cfg.transfer is not None:
            self._setup_transfer()
        if getattr(self, "synthetic", None) is not None:
            self._pretrain_synthetic()

    # -- transfer: pretrain, then fine-tune a part (seed 004, §3.2) -------------------------------
    def _setup_transfer(self) -> None:
        """Pretrain on ``transfer.pretrain``, load those weights, freeze all but ``transfer.trainable``.

        Runs last in ``setup``: ``self.model`` is then the fine-tune model, freshly built (under the run
        seed) for ``cfg.data``; ``num_parameters`` counts all of it, ``num_trainable_parameters`` the
        fine-tuned part. Pretraining is this recipe run on the pretrain data for ``pretrain_epochs``
        with the run's model, loss and optimiser settings, keeping its best validation epoch.

        Every pretrained tensor is copied in, except those whose shape differs in the fine-tune model:
        with another class count, that is the final classifier layer (e.g. ``head.1``), which is
        re-initialised, i.e. keeps the fresh model's default PyTorch init drawn under the run seed. A
        re-initialised tensor must be trainable; this is checked before pretraining starts.
        """
        t = self.cfg.transfer
        assert t is not None
        self._check_trainable(t.trainable)
        pre_data = prepare(t.pretrain)
        self._check_transferable(pre_data, t.trainable)
        pre = self._pretrain(pre_data)
        pretrained = {k: v.detach().clone() for k, v in pre.model.model.state_dict().items()}  # CPU
        current = self.model.state_dict()
        same = {k: v for k, v in pretrained.items() if v.shape == current[k].shape}
        self.model.load_state_dict({**current, **same})
        for name, p in self.model.named_parameters():
            p.requires_grad_(under(name, t.trainable))
        self._frozen_modules = frozen_modules(self.model)
        self.num_trainable_parameters = count_parameters(self.model)
        seed_everything(self.cfg.seed)  # fine-tuning's randomness does not depend on pretraining's length
        self._setup_optimizer()  # fresh, over the trainable parameters only
        self.extra.update(
            pretrain_history=pre.history,
            pretrain_test=pre.test,
            pretrain_val=pre.val,
            pretrain_best_epoch=pre.best_epoch,
            pretrain_fingerprint=pre.data.fingerprint,
            pretrained_state=pretrained,  # the core model's state dict after pretraining, before fine-tuning
            trainable_parameters=[n for n, p in self.model.named_parameters() if p.requires_grad],
            reinitialised=sorted(set(pretrained) - set(same)),
        )

    def _check_trainable(self, prefixes: Sequence[str]) -> None:
        names = [n for n, _ in self.model.named_parameters()]
        for prefix in prefixes:
            if not any(under(n, [prefix]) for n in names):
                top = list(dict.fromkeys(n.split(".")[0] for n in names))
                raise ConfigError(
                    f"transfer.trainable: {prefix!r} matches no parameter of model {self.cfg.model.name!r}; "
                    f"its top-level modules: {', '.join(top)}"
                )

    def _check_transferable(self, pre: PreparedData, prefixes: Sequence[str]) -> None:
        """Fail before pretraining if the pretrained weights cannot serve the fine-tune model."""
        if pre.num_channels != self.data.num_channels:
            raise ConfigError(
                f"transfer.pretrain: {pre.num_channels} channels {list(pre.channel_names)}, but data has "
                f"{self.data.num_channels} {list(self.data.channel_names)}; both phases need the same channels"
            )
        if pre.num_classes == self.data.num_classes and pre.window == self.data.window:
            return
        shaped = create_model(
            self.cfg.model.name, in_channels=pre.num_channels, num_classes=pre.num_classes,
            window=pre.window, **self.cfg.model.params,
        ).state_dict()
        fresh = [k for k, v in self.model.state_dict().items() if v.shape != shaped[k].shape]
        frozen = sorted({k.rsplit(".", 1)[0] for k in fresh if not under(k, prefixes)})
        if frozen:
            why = (f"{pre.num_classes} classes in pretraining and {self.data.num_classes} in data"
                   if pre.num_classes != self.data.num_classes else f"window {pre.window} vs {self.data.window}")
            raise ConfigError(
                f"transfer.trainable={list(prefixes)}: {why} re-initialises {', '.join(frozen)}, "
                f"which would stay frozen; add {', '.join(map(repr, frozen))} to transfer.trainable"
            )

    def _pretrain(self, data: PreparedData) -> TrainResult:
        """The normal loop on the pretrain data (no callbacks: they see the fine-tune epochs only)."""
        t = self.cfg.transfer
        assert t is not None
        epochs = t.pretrain_epochs or self.cfg.train.epochs
        cfg = self.cfg.model_copy(update={
            "data": t.pretrain, "transfer": None, "train": self.cfg.train.model_copy(update={"epochs": epochs}),
        })
        return Recipe(cfg, data=data).run()

    def _train_mode(self) -> None:
        self.model.train()
        for m in self._frozen_modules:  # empty unless transferring
            m.eval()

    # -- one epoch -------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, float]:
        self._train_mode()
        n, bs = len(self.train_y), self.cfg.train.batch_size
        order = torch.randperm(n, generator=self.generator).to(self.device)
        total, correct, terms_sum = 0.0, 0, {}
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            if len(idx) < 2:
                continue  # BatchNorm over pooled (B, C, 1) descriptors needs two samples in train mode
            x, y = self.train_x[idx], self.train_y[idx]  # (B, T, C), (B,)
            logits = self.model(x)  # (B, K)
            out = self.loss_fn(logits, y)
            loss, terms = out if isinstance(out, tuple) else (out, {})
            aux = self.model.auxiliary_loss(x)
            if aux is not None:
                loss, terms = loss + aux, {**terms, "aux": aux.detach()}
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"training loss is {loss.item()} at epoch {epoch}, batch {start // bs}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.train.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
            self.optimizer.step()
            total += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            for k, v in terms.items():
                terms_sum[k] = terms_sum.get(k, 0.0) + float(v) * len(y)
        out = {"train_loss": total / n, "train_accuracy": correct / n}
        out.update({f"train_loss_{k}": v / n for k, v in terms_sum.items()})
        return out

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, C) normalised windows -> (N, K) logits, in eval mode."""
        self.model.eval()
        return torch.cat([self.model(x[i : i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)])

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, float], np.ndarray]:
        """Metrics of one split, and its (N, K) probabilities. ``loss`` is plain cross-entropy, so it
        compares across training losses."""
        logits = self.predict(x)
        prob = F.softmax(logits.float(), dim=1).cpu().numpy()
        metrics = classification_metrics(y.cpu().numpy(), prob, self.data.num_classes)
        metrics["loss"] = F.cross_entropy(logits, y).item()
        return metrics, prob

    # -- the loop --------------------------------------------------------------------------------
    def snapshot(self, loop: LoopState) -> dict[str, Any]:
        """Everything needed to continue after the last finished epoch (a Tune checkpoint's content):
        weights, optimiser and schedule, the loss's state (adaptive weights), the RNG streams, and the
        loop's bookkeeping (history, best epoch so far, patience count)."""
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "loss": self.loss_fn.state_dict(),  # an adaptive composite's controller rides along (extra state)
            "batch_rng": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(), "python_rng": random.getstate(), "loop": loop,
        }

    def restore(self, state: dict[str, Any]) -> LoopState:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.loss_fn.load_state_dict(state["loss"])
        self.generator.set_state(state["batch_rng"])
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        random.setstate(state["python_rng"])
        return state["loop"]

    def run(self, resume: dict[str, Any] | None = None) -> TrainResult:
        """Train from scratch, or from ``resume`` (a ``snapshot``) after its last finished epoch."""
        self.setup()
        t = self.cfg.train
        loop = self.restore(resume) if resume is not None else LoopState()
        for epoch in range(loop.epoch + 1, t.epochs + 1):
            if loop.stopped_early:
                break
            t0 = time.perf_counter()
            metrics = self.train_epoch(epoch)
            val, _ = self.evaluate(self.val_x, self.val_y)
            metrics.update({f"val_{k}": v for k, v in val.items()})
            metrics["lr"] = self.optimizer.param_groups[0]["lr"]
            metrics["num_parameters"] = self.num_parameters  # a possible second objective of a search
            metrics["latency_ms"] = self.latency_ms  # another one (NSGA-II: accuracy vs latency)
            if self.cfg.transfer is not None:
                metrics["num_trainable_parameters"] = self.num_trainable_parameters
            metrics["epoch_time_s"] = time.perf_counter() - t0
            if hasattr(self.loss_fn, "on_epoch_end"):  # adaptive losses update their weights here
                metrics.update(self.loss_fn.on_epoch_end(epoch, val) or {})
            if self.scheduler is not None:
                self.scheduler.step()
            loop.epoch = epoch
            loop.history.append(metrics)
            if is_better(t.select_metric, val[t.select_metric], loop.best_score):
                loop.best_score, loop.best_epoch, loop.best_val, loop.stale = val[t.select_metric], epoch, val, 0
                loop.best_state = copy.deepcopy(self.model.state_dict())
            else:
                loop.stale += 1
            loop.stopped_early = t.patience is not None and loop.stale >= t.patience
            for cb in self.callbacks:
                if hasattr(cb, "on_epoch_state"):  # e.g. Tune's reporter: metrics and a checkpoint at once
                    cb.on_epoch_state(epoch, metrics, lambda: self.snapshot(loop))
                else:
                    cb.on_epoch_end(epoch, metrics)
        history, best_epoch, best_state, best_val = loop.history, loop.best_epoch, loop.best_state, loop.best_val
        stopped_early = loop.stopped_early
        if best_state is not None:
            self.model.load_state_dict(best_state)
        test, prob = self.evaluate(self.test_x, self.test_y)
        model = Normalized(self.model, torch.from_numpy(self.data.mean), torch.from_numpy(self.data.std))
        return TrainResult(
            config=self.cfg,
            test=test,
            val=best_val,
            best_epoch=best_epoch,
            history=history,
            model=model.cpu().eval(),
            data=self.data,
            test_true=self.data.test.y,
            test_prob=prob,
            num_parameters=self.num_parameters,
            stopped_early=stopped_early,
            extra=dict(self.extra),
        )


def train(
    cfg: RunConfig, callbacks: Sequence[Callback] = (), data: PreparedData | None = None,
    generators: GeneratorSource | None = None, resume: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``cfg`` and evaluate its best epoch on test. ``data`` skips ``prepare`` when given.
    A scikit-learn model (``family: sklearn``) is fitted once instead (``hartune.train.sklearn``)."""
    from hartune.models import MODELS

    if MODELS.get(cfg.model.name).family == "sklearn":
        from hartune.train.sklearn import train_sklearn

        return train_sklearn(cfg, callbacks, data)
    return Recipe(cfg, callbacks, data, generators).run(resume)
