"""The statistics-guided conditional diffusion generator (USAD §3.1.2-3.1.3): fit, sample, save, load.

Training (Eqs. 11-12) minimises ``E_{x0, y, t, eps} [ w_t * mean((eps - G(x_t, t, f, y))^2) ]`` with
``t`` uniform over the ``T`` steps and the weighting chosen by ``GeneratorConfig.weighting``:

* ``"min_snr"`` (default): ``w_t = min(SNR_t, gamma) / SNR_t``, ``SNR_t = alpha_bar_t / (1 - alpha_bar_t)``,
  ``gamma = snr_gamma`` (5): Min-SNR-gamma (Hang et al. 2023) for an epsilon-predicting network;
* ``"simple"``: ``w_t = 1``.

The paper's Eq. 12 weight, as transcribed in our notes, ``sqrt((1 - a_t) / (a_t (1 - a_{t-1})))``, is
not implemented: with the cosine schedule it is infinite at both ends (``1 - alpha_bar_0 = 0`` and
``alpha_bar_T -> 0``), so we read it as "a t-dependent importance weight" and use Min-SNR.

What is diffused is the local feature, the window's z-scored signal ``z = (x - mu) / sigma`` (Eq. 2), and
a sample is put back on the signal's scale with the statistics it was conditioned on: ``x = mu + sigma * z``
(the inverse of Eq. 2, after re-z-scoring the generated ``z`` so that it meets its definition). The network
thus learns shapes at unit scale, which suits the unit-variance noise of DDPM, and every synthetic window's
per-channel mean and std are those it was asked for, which is what "statistics-guided" promises.

Conditioning ``f`` (see ``denoiser.py``): during training, each window's own global statistics (Eq. 1),
replaced by its class prototype with probability ``feature_dropout``, and its class prototype z-curve
(Eq. 4). At sampling, the statistics are those of a real training window of the requested class drawn
at random (``feature_source="bank"``), or the class prototype itself (``"prototype"``, Eqs. 13-14's ``mu_y``).

Everything is deterministic under ``seed``: the network's initialisation, the batch order, the timesteps
and noise of training, and (with ``sample(seed=...)``) every sample. The global torch RNG is untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from hartune.augment.denoiser import MIN_WINDOW, Denoiser, DenoiserConfig
from hartune.augment.features import class_prototypes, global_features, local_features
from hartune.augment.schedule import CosineSchedule, SamplerKind, Weighting
from hartune.data.tensors import shared_tensor
from hartune.integrity import verify, write_checksum
from hartune.registry import validate_config

CONFIG_FILE = "generator.json"
STATE_FILE = "state.pt"


class SamplingConfig(BaseModel):
    """How to draw samples from a trained generator; changing it never needs retraining."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sampler: SamplerKind = "ddim"
    # 50 DDIM steps make 1/20 of the network calls of 1000-step ancestral DDPM; Song et al. (2021)
    # found DDIM samples from 50-100 steps close to the full chain's (on images).
    ddim_steps: PositiveInt = 50
    # eta = 1 (stochastic DDIM) by default: on watch, 50 steps of it gave DDPM's train-on-synthetic
    # accuracy (-0.4 +- 1.4 points over 4 draws), deterministic eta = 0 gave 5.0 +- 0.7 points less
    # (less varied windows); benchmarks/diffusion_sampling.py, benchmarks/README.md.
    ddim_eta: float = Field(1.0, ge=0.0, le=1.0)
    feature_source: Literal["bank", "prototype"] = "bank"
    # Bound each predicted z_0 by the largest |z| seen in training: an early, poor epsilon estimate is
    # otherwise amplified by 1/sqrt(alpha_bar_T) (~2e3 for the cosine schedule at T=100, ~2e4 at T=1000).
    clip_sample: bool = True
    batch_size: PositiveInt = 256


class GeneratorConfig(BaseModel):
    """The generator's knobs. Everything except ``sampling`` decides the trained weights (the cache key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timesteps: int = Field(1000, ge=2)
    denoiser: DenoiserConfig = DenoiserConfig()
    epochs: PositiveInt = 200
    batch_size: PositiveInt = 64
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    grad_clip: float | None = Field(1.0, gt=0.0)
    weighting: Weighting = "min_snr"
    # Min-SNR-gamma's gamma; Hang et al. (2023) found 5 best across datasets.
    snr_gamma: float = Field(5.0, gt=0.0)
    # Probability of conditioning a training window on its class prototype instead of its own statistics:
    # keeps sampling with feature_source="prototype" in distribution.
    feature_dropout: float = Field(0.1, ge=0.0, le=1.0)
    sampling: SamplingConfig = SamplingConfig()
    seed: int = 0

    @model_validator(mode="after")
    def _steps(self) -> GeneratorConfig:
        if self.sampling.ddim_steps > self.timesteps:
            raise ValueError(
                f"sampling.ddim_steps={self.sampling.ddim_steps} exceeds timesteps={self.timesteps}"
            )
        return self

    def training_json(self) -> str:
        """The JSON of every knob that changes the trained weights (all but ``sampling``)."""
        return self.model_dump_json(exclude={"sampling"})


def generator_config(**params: Any) -> GeneratorConfig:
    """Validate ``params``; a bad value raises ``ConfigError``, one line: ``generator.key=value: ...``."""
    return validate_config(GeneratorConfig, params, prefix="generator")


def balanced_counts(y: np.ndarray, num_classes: int, target: int | None = None) -> dict[int, int]:
    """Synthetic windows per class that bring every class with real windows up to ``target``.

    ``target`` defaults to the largest class's count; classes already at or above it get 0, classes
    without any real window are left out (the generator has no statistics to condition them on).
    """
    counts = np.bincount(np.asarray(y), minlength=num_classes)
    goal = int(counts.max()) if target is None else target
    return {k: max(0, goal - int(n)) for k, n in enumerate(counts) if n > 0}


def _labels(counts: Mapping[int, int] | Sequence[int], num_classes: int) -> torch.Tensor:
    items = counts.items() if isinstance(counts, Mapping) else enumerate(counts)
    labels = []
    for k, n in items:
        if not 0 <= int(k) < num_classes or int(n) < 0:
            raise ValueError(f"counts: class {k} -> {n}; classes are 0..{num_classes - 1}, counts >= 0")
        labels.append(torch.full((int(n),), int(k), dtype=torch.int64))
    return torch.cat(labels) if labels else torch.zeros(0, dtype=torch.int64)


class DiffusionGenerator:
    """A denoiser, its schedule and the feature statistics of the windows it was fitted on."""

    def __init__(self, cfg: GeneratorConfig, in_channels: int, num_classes: int, window: int) -> None:
        if window < MIN_WINDOW:
            raise ValueError(f"window={window}: the generator needs windows of at least {MIN_WINDOW} steps")
        self.cfg, self.in_channels, self.num_classes, self.window = cfg, in_channels, num_classes, window
        self.schedule = CosineSchedule(cfg.timesteps)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.net = Denoiser(in_channels, num_classes, cfg.denoiser)
        # Filled by fit (or load): the conditioning statistics, kept with the weights.
        self.buffers: dict[str, torch.Tensor] = {}

    # ---- training -----------------------------------------------------------------------------
    def _set_buffers(self, x: torch.Tensor, y: torch.Tensor) -> None:
        protos = class_prototypes(x, y, self.num_classes)
        # The bank is sorted by class: class k's rows are offset[k]:offset[k+1] (see _sample_batch).
        order = torch.argsort(y, stable=True)
        self.buffers = {
            "proto_stats": protos.stats,  # (K, C, 3)
            "proto_local": protos.local,  # (K, T, C)
            "class_counts": protos.counts,  # (K,)
            "bank_stats": global_features(x)[order],  # (N, C, 3)
            "absmax": local_features(x).abs().max().reshape(1),  # the largest |z| seen
        }

    def fit(
        self, x: np.ndarray, y: np.ndarray, on_epoch: Callable[[int, float], None] | None = None
    ) -> list[float]:
        """Train on normalised windows ``x (N, T, C)`` with labels ``y (N,)``; returns each epoch's mean loss.

        ``on_epoch(epoch, mean_loss)`` is called after every epoch (e.g. to log it).
        """
        # the prepared windows are read-only (shared by a node's trials): guarded views, not copies
        xt, yt = shared_tensor(np.asarray(x, dtype=np.float32)), shared_tensor(np.asarray(y, dtype=np.int64))
        self._check(xt, yt)
        self._set_buffers(xt, yt)
        stats, z = global_features(xt), local_features(xt)  # (N, C, 3), (N, T, C): Eqs. 1-2
        proto_stats, proto_local = self.buffers["proto_stats"], self.buffers["proto_local"]
        cfg = self.cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.net.train()
        history = []
        for epoch in range(cfg.epochs):
            total = 0.0
            for idx in torch.randperm(len(xt), generator=gen).split(cfg.batch_size):
                z0, yb = z[idx], yt[idx]
                own = torch.rand(len(idx), generator=gen) >= cfg.feature_dropout
                sb = torch.where(own[:, None, None], stats[idx], proto_stats[yb])
                t = torch.randint(0, cfg.timesteps, (len(idx),), generator=gen)
                noise = torch.randn(z0.shape, generator=gen)
                eps = self.net(self.schedule.q_sample(z0, noise, t), t, yb, sb, proto_local[yb])
                per_window = ((eps - noise) ** 2).mean(dim=(1, 2))  # (B,)
                loss = (self.schedule.loss_weight(t, cfg.weighting, cfg.snr_gamma) * per_window).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
                opt.step()
                total += loss.item() * len(idx)
            history.append(total / len(xt))
            if on_epoch is not None:
                on_epoch(epoch, history[-1])
        self.net.eval()
        return history

    def _check(self, x: torch.Tensor, y: torch.Tensor) -> None:
        want = (self.window, self.in_channels)
        if x.ndim != 3 or tuple(x.shape[1:]) != want or len(y) != len(x) or len(x) == 0:
            raise ValueError(
                f"fit: x {tuple(x.shape)}, y {tuple(y.shape)}; expected (N>0, {want[0]}, {want[1]}) and (N,)"
            )
        if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
            raise ValueError(
                f"fit: labels {int(y.min())}..{int(y.max())}; classes are 0..{self.num_classes - 1}"
            )

    # ---- sampling -----------------------------------------------------------------------------
    @property
    def fitted_classes(self) -> list[int]:
        return torch.nonzero(self.buffers["class_counts"]).flatten().tolist() if self.buffers else []

    def sample(
        self,
        counts: Mapping[int, int] | Sequence[int],
        *,
        sampling: SamplingConfig | None = None,
        seed: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``counts[k]`` windows of class ``k`` (a dict, or a list indexed by class).

        Returns ``x (N, T, C)`` float32 in the normalised units it was fitted on and ``y (N,)`` int64,
        grouped by class. ``sampling`` overrides ``cfg.sampling``; ``seed`` (default ``cfg.seed``) fixes
        the result.
        """
        s = sampling or self.cfg.sampling
        if s.sampler == "ddim" and s.ddim_steps > self.cfg.timesteps:
            raise ValueError(f"sample: ddim_steps={s.ddim_steps} exceeds timesteps={self.cfg.timesteps}")
        labels = _labels(counts, self.num_classes)
        missing = sorted(set(labels.unique().tolist()) - set(self.fitted_classes))
        if missing:
            raise ValueError(
                f"sample: classes {missing} had no training windows; fitted: {self.fitted_classes}"
            )
        gen = torch.Generator().manual_seed(self.cfg.seed if seed is None else seed)
        clip = float(self.buffers["absmax"]) if s.clip_sample else None
        self.net.eval()
        out = [self._sample_batch(yb, s, clip, gen) for yb in labels.split(s.batch_size)]
        x = torch.cat(out) if out else torch.zeros(0, self.window, self.in_channels)
        return x.numpy().astype(np.float32), labels.numpy()

    @torch.no_grad()
    def _sample_batch(
        self, y: torch.Tensor, s: SamplingConfig, clip: float | None, gen: torch.Generator
    ) -> torch.Tensor:
        b = self.buffers
        if s.feature_source == "bank":
            offsets = torch.cumsum(b["class_counts"], 0) - b["class_counts"]
            pick = offsets[y] + (torch.rand(len(y), generator=gen) * b["class_counts"][y]).long()
            stats = b["bank_stats"][pick]
        else:
            stats = b["proto_stats"][y]
        local = b["proto_local"][y]
        sched = self.schedule.sampler(s.sampler, s.ddim_steps, clip)
        step_kw: dict[str, Any] = {"generator": gen}
        if s.sampler == "ddim":
            step_kw |= {"eta": s.ddim_eta, "use_clipped_model_output": clip is not None}
        z = torch.randn((len(y), self.window, self.in_channels), generator=gen)  # (B, T, C)
        for t in sched.timesteps:
            eps = self.net(z, t.expand(len(y)), y, stats, local)
            z = sched.step(eps, t, z, **step_kw).prev_sample
        mu, sigma = stats[:, None, :, 0], stats[:, None, :, 1]  # (B, 1, C) each
        return mu + sigma * local_features(z)  # the inverse of Eq. 2

    # ---- persistence --------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``generator.json`` (config, shapes) and ``state.pt`` (tensors only) into ``path``."""
        if not self.buffers:
            raise ValueError("save: the generator has not been fitted")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "config": self.cfg.model_dump(mode="json"),
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "window": self.window,
        }
        (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
        torch.save({"net": self.net.state_dict(), "buffers": self.buffers}, path / STATE_FILE)
        for name in (CONFIG_FILE, STATE_FILE):
            write_checksum(path / name)
        return path

    @classmethod
    def load(cls, path: str | Path) -> DiffusionGenerator:
        """Rebuild from :meth:`save`'s directory; the state is read with ``weights_only=True`` (no code).
        Either file not matching the checksum written beside it raises ``CorruptFile`` (one line)."""
        path = Path(path)
        for name in (CONFIG_FILE, STATE_FILE):
            verify(path / name)
        meta = json.loads((path / CONFIG_FILE).read_text())
        cfg = validate_config(GeneratorConfig, meta["config"], prefix=str(path / CONFIG_FILE))
        gen = cls(cfg, meta["in_channels"], meta["num_classes"], meta["window"])
        state = torch.load(path / STATE_FILE, weights_only=True)
        gen.net.load_state_dict(state["net"])
        gen.net.eval()
        gen.buffers = dict(state["buffers"])
        return gen
