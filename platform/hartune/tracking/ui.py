"""``hartune ui``: the MLflow UI on a run's store, opened at the experiment's training runs.

A server store (``http(s)://``) already serves its UI: the command prints the address. A SQLite or
file store gets ``mlflow ui`` started on it, from the store's folder (where relative artifact paths
point), until Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from hartune.registry import ConfigError
from hartune.tracking import runs
from hartune.tracking.store import redact, require_store, resolve_uri

START_TIMEOUT_S = 300.0  # a loaded laptop can take minutes to import the server


def runs_url(base: str, experiment_id: str | None) -> str:
    """The UI's runs table of an experiment (its experiment list without one)."""
    base = base.rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs" if experiment_id else f"{base}/#/experiments"


def target_store(target: str | None, uri: str | None) -> tuple[str, str | None]:
    """(tracking URI, experiment name) from ``hartune ui [EXPERIMENT | SPEC] [--uri URI]``: a spec file
    names its store and experiment; ``--uri`` wins over the spec's store."""
    if target and target.endswith((".yaml", ".yml")) and Path(target).is_file():
        from hartune.spec import load_spec

        spec, _ = load_spec(target)
        return resolve_uri(uri or spec.tracking.uri), spec.experiment()
    return resolve_uri(uri), target


def experiment_id(uri: str, name: str | None) -> str | None:
    if name is None:
        return None
    c = runs.client(uri)
    exp = c.get_experiment_by_name(name)
    if exp is None or exp.lifecycle_stage == "deleted":
        known = sorted(e.name for e in c.search_experiments())
        raise ConfigError(f"experiment {name!r} not found in {redact(uri)}; experiments here: {', '.join(known) or 'none'}")
    return exp.experiment_id


def serve(uri: str, host: str, port: int) -> subprocess.Popen:
    """``mlflow ui`` on the store, in its own process group (its workers stop with it)."""
    folder = Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite:///") else Path.cwd()
    return subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def wait_up(proc: subprocess.Popen, base: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
            raise ConfigError(f"mlflow ui stopped at start ({err[-1] if err else f'exit code {proc.returncode}'})")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise ConfigError(f"mlflow ui did not answer at {base} within {timeout_s:.0f}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def main(target: str | None, uri: str | None, host: str = "127.0.0.1", port: int = 5000) -> int:
    uri, name = target_store(target, uri)
    require_store(uri)
    exp = experiment_id(uri, name)
    if uri.startswith(("http://", "https://")):
        print(f"the MLflow UI of {redact(uri)}: {redact(runs_url(uri, exp))}")
        return 0
    base = f"http://{host}:{port}"
    proc = serve(uri, host, port)
    # SIGTERM (a test, a service manager) ends the UI as Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        wait_up(proc, base)
        print(f"MLflow UI on {redact(uri)}: {runs_url(base, exp)}  (Ctrl-C stops it)", flush=True)
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
    return 0
