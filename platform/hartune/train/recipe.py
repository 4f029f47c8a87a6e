"""The one training recipe, the trainer of torch models: every model, the CLI and the Ray Tune
trainable call ``hartune.train.train``, which picks it for ``family: torch``.

setup (data, model, loss, optimiser) -> per epoch: train, validate, report to callbacks, keep the best
-> evaluate the best epoch on test. Pure: no printing, no files, no tracking; callbacks carry the
per-epoch metrics to whoever listens (the CLI's printer, Tune's reporter, MLflow). Two workflows
change the starting weights during setup and live in their own modules: synthetic augmentation
(``hartune.train.augmentation``) and transfer learning (``hartune.train.transfer``).
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hartune.data import PreparedData, prepare
from hartune.data.tensors import split_tensors
from hartune.deploy import cpu_latency_ms
from hartune.models import Normalized, count_parameters, create_model
from hartune.train.augmentation import Windows, augment, pretrain_epochs, pretrain_loss
from hartune.train.config import RunConfig
from hartune.train.execution import Execution, check, pick_device
from hartune.train.metrics import classification_metrics
from hartune.train.transfer import setup_transfer
from hartune.train.types import TRAINERS, Callback, NonFiniteLossError, TrainResult

if TYPE_CHECKING:
    from hartune.augment.source import GeneratorSource

EVAL_BATCH = 1024  # windows per forward pass at evaluation; memory-bound only


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
        self.extra: dict[str, object] = {}  # TrainResult.extra (augmentation, the transfer's pretraining)
        self._frozen_modules: list[nn.Module] = []  # kept in eval mode while training (transfer)
        self.synthetic: Windows | None = None  # augmentation's ``pretrain`` mode: the windows to pretrain on

    # -- setup -----------------------------------------------------------------------------------
    def _setup_data(self) -> None:
        self.data = self._data if self._data is not None else prepare(self.cfg.data)
        # The whole split lives on the device as tensors: batches are index slices, no __getitem__. On
        # the CPU they are the prepared arrays themselves (shared by a node's trials), guarded read-only.
        (self.train_x, self.train_y), (self.val_x, self.val_y), (self.test_x, self.test_y) = (
            split_tensors(self.data, self.device))

    def _setup_model(self) -> None:
        seed_everything(self.cfg.seed)  # the model's init depends on the seed alone
        d = self.data
        self.model = create_model(self.cfg.model.name, in_channels=d.num_channels, num_classes=d.num_classes,
                                  window=d.window, **self.cfg.model.params).to(self.device)
        self.net = self.exec.forward_module(self.model)  # the training forward: compiled or the model itself

    def _setup_augment(self) -> None:
        """Synthetic training windows (``hartune.train.augmentation``): ``mix`` appends them to the
        training tensors, ``pretrain`` keeps them for ``_pretrain_synthetic``."""
        a = augment(self.cfg, self.data, (self.train_x, self.train_y), self.generators)
        (self.train_x, self.train_y), self.synthetic, self.extra["augment"] = a.train, a.pretrain, a.info

    def _pretrain_synthetic(self, synthetic: Windows) -> None:
        """Train on the synthetic windows alone with the pretraining loss (Eq. 17), then start the real
        training (Eq. 18) from those weights with the run's loss and a fresh optimiser (and schedule)."""
        real, (self.train_x, self.train_y) = (self.train_x, self.train_y), synthetic
        run_loss, self.loss_fn = self.loss_fn, pretrain_loss(self.cfg, synthetic[1], self.data.num_classes, self.loss_fn)
        history = [self.train_epoch(e) for e in range(1, pretrain_epochs(self.cfg) + 1)]
        (self.train_x, self.train_y), self.loss_fn = real, run_loss
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
        check(self.cfg.train.precision, self.cfg.train.compile, self.device)  # one ConfigError line if it cannot run
        self.exec = Execution(self.cfg.train.precision, self.cfg.train.compile, self.device)
        self._setup_data()
        if self.cfg.augment is not None:
            self._setup_augment()
        self._setup_model()
        self._setup_loss()
        self._setup_optimizer()
        self.generator = torch.Generator().manual_seed(self.cfg.seed)  # batch order
        self.num_parameters = count_parameters(self.model)
        # the weights do not matter, so it is measured once, before training
        self.latency_ms = cpu_latency_ms(self.model, self.data.window, self.data.num_channels)
        if self.cfg.transfer is not None:
            self._setup_transfer()
        if self.synthetic is not None:
            self._pretrain_synthetic(self.synthetic)

    def _setup_transfer(self) -> None:
        """Pretrain, load, freeze all but ``transfer.trainable`` (``hartune.train.transfer``), then
        re-seed and build a fresh optimiser over the trainable parameters. Runs once the model is built:
        ``self.model`` is then the fine-tune model, freshly built under the run seed; ``num_parameters``
        counts all of it, ``num_trainable_parameters`` the fine-tuned part."""
        # pretraining is this recipe on the pretrain data, without callbacks: they see the fine-tune epochs only
        tuned = setup_transfer(self.cfg, self.model, self.data, lambda c, d: Recipe(c, data=d).run())
        self._frozen_modules = tuned.frozen_modules
        self.num_trainable_parameters = tuned.num_trainable_parameters
        seed_everything(self.cfg.seed)  # fine-tuning's randomness does not depend on pretraining's length
        self._setup_optimizer()  # fresh, over the trainable parameters only
        self.extra.update(tuned.extra)

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
            with self.exec.autocast():  # train.precision (hartune.train.execution)
                logits = self.net(x)  # (B, K)
                loss, terms = self.loss_fn(logits, y)
                aux = self.model.auxiliary_loss(x)
            if aux is not None:
                loss, terms = loss + aux, {**terms, "aux": aux.detach()}
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"training loss is {loss.item()} at epoch {epoch}, batch {start // bs}")
            self.exec.step(loss, self.optimizer, self.model.parameters(), self.cfg.train.grad_clip)
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
        with self.exec.autocast():
            return torch.cat([self.model(x[i : i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)]).float()

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
            "grad_scaler": self.exec.state_dict(),  # fp16's loss scale; empty otherwise
            "batch_rng": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(), "python_rng": random.getstate(), "loop": loop,
        }

    def restore(self, state: dict[str, Any]) -> LoopState:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.loss_fn.load_state_dict(state["loss"])
        self.exec.load_state_dict(state.get("grad_scaler"))
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
            # no validation split (a refit on every subject): the last epoch is the one kept
            val = self.evaluate(self.val_x, self.val_y)[0] if len(self.val_y) else {}
            metrics.update({f"val_{k}": v for k, v in val.items()})
            metrics["lr"] = self.optimizer.param_groups[0]["lr"]
            metrics["num_parameters"] = self.num_parameters  # a possible second objective of a search
            metrics["latency_ms"] = self.latency_ms  # another one (NSGA-II: accuracy vs latency)
            if self.cfg.transfer is not None:
                metrics["num_trainable_parameters"] = self.num_trainable_parameters
            metrics["epoch_time_s"] = time.perf_counter() - t0
            signal = val or {"accuracy": metrics["train_accuracy"]}
            metrics.update(self.loss_fn.on_epoch_end(epoch, signal))  # adaptive losses update their weights here
            if self.scheduler is not None:
                self.scheduler.step()
            loop.epoch = epoch
            loop.history.append(metrics)
            if not val:
                loop.best_epoch = epoch
            elif is_better(t.select_metric, val[t.select_metric], loop.best_score):
                loop.best_score, loop.best_epoch, loop.best_val, loop.stale = val[t.select_metric], epoch, val, 0
                loop.best_state = copy.deepcopy(self.model.state_dict())
            else:
                loop.stale += 1
            loop.stopped_early = t.patience is not None and loop.stale >= t.patience
            for cb in self.callbacks:  # e.g. Tune's reporter: metrics, and now and then a checkpoint
                cb.on_epoch_end(epoch, metrics, lambda: self.snapshot(loop))
        if loop.best_state is not None:
            self.model.load_state_dict(loop.best_state)
        no_test = ({}, np.zeros((0, self.data.num_classes)))  # a refit on every subject has no test split
        test, prob = self.evaluate(self.test_x, self.test_y) if len(self.test_y) else no_test
        d = self.data
        model = Normalized(self.model, torch.tensor(d.mean), torch.tensor(d.std)).cpu().eval()  # own copies
        return TrainResult(
            config=self.cfg, test=test, val=loop.best_val, best_epoch=loop.best_epoch, history=loop.history,
            model=model, data=d, test_true=d.test.y, test_prob=prob, num_parameters=self.num_parameters,
            stopped_early=loop.stopped_early, extra=dict(self.extra),
        )


@TRAINERS.register("torch")
def train_torch(
    cfg: RunConfig, callbacks: Sequence[Callback] = (), data: PreparedData | None = None,
    generators: GeneratorSource | None = None, resume: dict[str, Any] | None = None,
) -> TrainResult:
    """The epoch loop: ``Recipe(...).run(resume)``."""
    return Recipe(cfg, callbacks, data, generators).run(resume)
