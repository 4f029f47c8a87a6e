"""Real servers for the tests that need one: a free port, and an ``mlflow server`` process.

Imported by name (``from live_servers import ...``): ``conftest`` is not importable by name when several
test folders have one.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hartune.registry import ConfigError
from hartune.tracking.ui import wait_up


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
    try:
        wait_up(proc, uri, timeout_s=180)  # hartune ui's wait: /health answers 200
    except ConfigError:
        proc.kill()
        pytest.fail(f"mlflow server did not start: {log.read_text()[-1500:]}")
    try:
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=30)
