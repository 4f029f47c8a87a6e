"""Shared fixtures: small real data (the shipped watch recordings), a tiny native-format npz and the
session's real local Ray (a real `mlflow server` process is in live_servers.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hartune.data import DataConfig, WindowConfig


@pytest.fixture(scope="session")
def watch_cfg() -> DataConfig:
    """The real smartwatch data, windowed coarsely so that tests stay fast."""
    return DataConfig(window=WindowConfig(length=100, stride=100))


@pytest.fixture
def recordings_npz(tmp_path: Path) -> Path:
    """An ``arrays`` dataset in the recordings layout: 12 recordings of 6 subjects, 3 classes."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(60, 120, size=12)
    y = np.arange(12) % 3
    # class-dependent mean so that a model can learn it
    signals = np.concatenate([rng.normal(c, 1.0, size=(n, 4)) for c, n in zip(y, lengths)])
    path = tmp_path / "mine.npz"
    np.savez(
        path, signals=signals.astype(np.float32), lengths=lengths, y=y, subject=np.repeat(np.arange(6), 2),
        channel_names=np.array(["a", "b", "c", "d"]), class_names=np.array(["sit", "walk", "run"]),
        sampling_rate_hz=np.array(25.0),
    )
    return path


@pytest.fixture(scope="session")
def ray_local():
    """One real local Ray for the whole session (2 CPUs, no dashboard): tune, report and tracking
    tests share it. ``address="local"`` never joins a cluster that ``ray start`` left running."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()

