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
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hartune.data import PreparedData, prepare
from hartune.models import Normalized, count_parameters, create_model
from hartune.train.config import RunConfig
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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def is_better(metric: str, new: float, best: float | None) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(new)
    return new < best if metric == "loss" else new > best


class Recipe:
    """``Recipe(cfg).run()``; the private ``_setup_*`` steps read top to bottom."""

    def __init__(
        self, cfg: RunConfig, callbacks: Sequence[Callback] = (), data: PreparedData | None = None
    ) -> None:
        self.cfg = cfg
        self.callbacks = list(callbacks)
        self._data = data

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

    def _setup_loss(self) -> None:
        counts = np.bincount(self.data.train.y, minlength=self.data.num_classes).tolist()
        self.loss_fn = self.cfg.loss.build(counts).to(self.device)

    def _setup_optimizer(self) -> None:
        t = self.cfg.train
        opt = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
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
        self._setup_model()
        self._setup_loss()
        self._setup_optimizer()
        self.generator = torch.Generator().manual_seed(self.cfg.seed)  # batch order
        self.num_parameters = count_parameters(self.model)

    # -- one epoch -------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
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
    def run(self) -> TrainResult:
        self.setup()
        t = self.cfg.train
        history: list[dict[str, float]] = []
        best_score, best_epoch, best_state, best_val = None, 0, None, {}
        stale, stopped_early = 0, False
        for epoch in range(1, t.epochs + 1):
            t0 = time.perf_counter()
            metrics = self.train_epoch(epoch)
            val, _ = self.evaluate(self.val_x, self.val_y)
            metrics.update({f"val_{k}": v for k, v in val.items()})
            metrics["lr"] = self.optimizer.param_groups[0]["lr"]
            metrics["num_parameters"] = self.num_parameters  # a possible second objective of a search
            metrics["epoch_time_s"] = time.perf_counter() - t0
            if hasattr(self.loss_fn, "on_epoch_end"):  # adaptive losses update their weights here
                metrics.update(self.loss_fn.on_epoch_end(epoch, val) or {})
            if self.scheduler is not None:
                self.scheduler.step()
            history.append(metrics)
            if is_better(t.select_metric, val[t.select_metric], best_score):
                best_score, best_epoch, best_val, stale = val[t.select_metric], epoch, val, 0
                best_state = copy.deepcopy(self.model.state_dict())
            else:
                stale += 1
            for cb in self.callbacks:
                cb.on_epoch_end(epoch, metrics)
            if t.patience is not None and stale >= t.patience:
                stopped_early = True
                break
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
        )


def train(
    cfg: RunConfig, callbacks: Sequence[Callback] = (), data: PreparedData | None = None
) -> TrainResult:
    """Train ``cfg`` and evaluate its best epoch on test. ``data`` skips ``prepare`` when given."""
    return Recipe(cfg, callbacks, data).run()
