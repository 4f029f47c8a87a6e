"""Real servers for the tests that need one: a free port, and an ``mlflow server`` process.

Imported by name (``from live_servers import ...``): ``conftest`` is not importable by name when several
test folders have one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
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


class MlflowServer:
    """A real ``mlflow server`` process on one port; ``stop`` and ``start`` again on the same port and
    backend store (a tracking outage for the fault tests)."""

    def __init__(self, backend_store_uri: str, workdir: Path, port: int | None = None) -> None:
        self.backend, self.workdir, self.port = backend_store_uri, workdir, port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> str:
        self.starts += 1
        log = self.workdir / f"server{self.starts}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", self.backend,
             "--artifacts-destination", str(self.workdir / "artifacts")],
            stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=self.workdir,
            start_new_session=True,  # its own process group: stop() ends uvicorn's workers with it
        )
        try:
            wait_up(self.proc, self.uri, timeout_s=180)  # hartune ui's wait: /health answers 200
        except ConfigError:
            self.proc.kill()
            pytest.fail(f"mlflow server did not start: {log.read_text()[-1500:]}")
        return self.uri

    def stop(self, crash: bool = False) -> None:
        """SIGTERM to its process group, then SIGKILL if it lingers (``crash``: SIGKILL at once, the
        server gone in an instant); the port is free afterwards."""
        if self.proc is None:
            return
        for sig in (signal.SIGKILL,) if crash else (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                continue
            if not port_open(self.port):
                break
        deadline = time.time() + 30
        while port_open(self.port) and time.time() < deadline:  # a worker still closing its socket
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            time.sleep(0.2)


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def mlflow_server(backend_store_uri: str, workdir: Path) -> Iterator[str]:
    """A real ``mlflow server`` process on a free port, until the block ends; yields its URL."""
    with restartable_mlflow_server(backend_store_uri, workdir) as server:
        yield server.uri


@contextmanager
def restartable_mlflow_server(backend_store_uri: str, workdir: Path) -> Iterator[MlflowServer]:
    """:class:`MlflowServer`, started, and stopped when the block ends."""
    server = MlflowServer(backend_store_uri, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresInstance:
    """A PostgreSQL server of our own (``initdb`` + ``pg_ctl``) on a free port with its data, socket and
    log in ``/tmp/hrtpg-PORT``, trust auth for user ``postgres``: restarting it touches nobody else's database.
    As root, the server runs as the ``postgres`` system user (``initdb`` refuses root)."""

    def __init__(self, workdir: Path) -> None:
        import shutil

        if not (PG_BIN / "initdb").exists():
            pytest.skip(f"no PostgreSQL binaries in {PG_BIN}")
        self.port = free_port()
        # its own folder outside pytest's (mode 700, root's): data, socket and log, owned by the server's user
        self.sock = Path(f"/tmp/hrtpg-{self.port}")
        self.sock.mkdir()
        self.data = self.sock / "pgdata"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.sock, "postgres")
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}"

    def _pg(self, tool: str, *args: str) -> None:
        out = subprocess.run([*self.as_user, str(PG_BIN / tool), *args], check=False, capture_output=True,
                             text=True, timeout=120)
        if out.returncode != 0:
            pytest.fail(f"{tool} failed: {out.stdout[-1000:]}{out.stderr[-1000:]}")

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.sock / "pg.log"), "-w", "-t", "120",
                 "-o", f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "120", "stop")

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        conn.close()
        return f"{self.url}/{name}"


@contextmanager
def postgres_instance(workdir: Path) -> Iterator[PostgresInstance]:
    """:class:`PostgresInstance`, started, stopped and its socket folder removed when the block ends."""
    import shutil

    pg = PostgresInstance(workdir)
    pg.start()
    try:
        yield pg
    finally:
        with contextlib.suppress(BaseException):
            pg.stop()
        shutil.rmtree(pg.sock, ignore_errors=True)
