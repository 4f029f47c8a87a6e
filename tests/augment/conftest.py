"""Tiny diffusion settings and the real smartwatch windows they are fitted on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from hartune.augment import DiffusionGenerator, GeneratorConfig, generator_config
from hartune.data import DataConfig, PreparedData, prepare

# Two shared CPU cores run the suite: one thread per process keeps timings stable and the cache test's
# two processes from fighting over both cores.
torch.set_num_threads(1)

# ~25k parameters, 100 diffusion steps: about 0.1 s per epoch on one watch class.
TINY: dict[str, Any] = {
    "timesteps": 100,
    "batch_size": 32,
    "lr": 2e-3,
    "denoiser": {
        "width": 16,
        "channel_mult": (1, 2),
        "time_dim": 32,
        "label_dim": 8,
        "stats_dim": 16,
        "emb_dim": 32,
    },
    "sampling": {"ddim_steps": 10},
}


@pytest.fixture(scope="session")
def tiny() -> Callable[..., GeneratorConfig]:
    """``tiny(epochs=3)``: the tiny config with overrides."""
    return lambda **kw: generator_config(**{**TINY, **kw})


@pytest.fixture(scope="session")
def watch(watch_cfg: DataConfig) -> PreparedData:
    return prepare(watch_cfg)


@pytest.fixture(scope="session")
def three_class_generator(watch: PreparedData, tiny: Callable[..., GeneratorConfig]) -> DiffusionGenerator:
    """Fitted for 2 epochs on 40 windows of each of classes 0, 2 and 5 (class 1, 3, 4, 6: none)."""
    idx = np.concatenate([np.flatnonzero(watch.train.y == k)[:40] for k in (0, 2, 5)])
    gen = DiffusionGenerator(tiny(epochs=2), watch.num_channels, watch.num_classes, watch.window)
    gen.fit(watch.train.x[idx], watch.train.y[idx])
    return gen
