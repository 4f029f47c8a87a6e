"""Shared fixtures and helpers: small real data (the shipped watch recordings), a tiny native-format npz,
the session's real local Ray, and a real `mlflow server` process."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mlflow_server(backend_store_uri: str, workdir: Path) -> Iterator[str]:
    """A real ``mlflow server`` process on a free port, until the block ends; yields its URL."""
    port = free_port()
    log = workdir / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", backend_store_uri, "--artifacts-destination", str(workdir / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=workdir,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"mlflow server did not start: {log.read_text()[-1500:]}")
    try:
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=30)
