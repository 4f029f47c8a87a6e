"""Real Ray clusters on this machine for the cluster tests: ``ray start --head`` plus worker nodes, each
with its own ``--temp-dir`` (two raylets sharing a session folder delete each other's working dirs),
token auth off on loopback, and a teardown that kills exactly this cluster's processes (``ray stop``
would stop every Ray on the machine)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from live_servers import free_port
from processes import process_table


def descendants_and(mark: str) -> set[int]:
    """Processes whose command line holds ``mark``, and all their descendants (from /proc)."""
    table = process_table()
    pids = {p for p, (_, cmd) in table.items() if mark in cmd} - {os.getpid()}
    while new := {p for p, (pp, _) in table.items() if pp in pids} - pids:
        pids |= new
    return pids


ROOTS: dict[str, Path] = {}  # GCS address -> the cluster's temp-dir root (its nodes' processes hold it)


def kill_worker_node(gcs: str, index: int = 0) -> int:
    """SIGKILL every process of worker node ``index`` of the cluster at ``gcs`` (its raylet, its workers):
    the node is lost, as when its machine goes down. Returns how many processes were killed."""
    pids = descendants_and(str(ROOTS[gcs] / f"worker{index}"))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def alive_nodes(address: str) -> list:
    from ray.util.state.api import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    nodes = StateApiClient(address).list(StateResource.NODES, options=ListApiOptions(detail=True),
                                         raise_on_missing_output=False)
    return [n for n in nodes if n.state == "ALIVE"]


def trial_actors(address: str, job_id: str | None = None) -> list:
    """Tune's function-trainable actors in the cluster (of one job, if given), dead ones included.
    Ray 2.60 names their class "ImplicitFunc" in some runs and "wrap_function.<locals>.ImplicitFunc"
    (its qualified name) in others, so they are matched by the last part of the name, not by a filter."""
    from ray.util.state.api import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    filters = [("job_id", "=", job_id)] if job_id else []
    actors = StateApiClient(address).list(
        StateResource.ACTORS, options=ListApiOptions(detail=True, limit=10_000, filters=filters),
        raise_on_missing_output=False,
    )
    return [a for a in actors if a.class_name.rsplit(".", 1)[-1] == "ImplicitFunc"]


@contextmanager
def ray_cluster(head_extra: list[str], workers: list[list[str]], head: list[str]) -> Iterator[tuple[str, str]]:
    """Yields (Jobs API address, GCS address) of a head started with ``head + head_extra`` and one node
    per ``workers`` entry."""
    root = Path(f"/tmp/hrt-{uuid.uuid4().hex[:8]}")  # short: Unix socket paths are capped at 107 bytes
    (root / "head").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")  # `hartune` for jobs
    gcs, dash = free_port(), free_port()
    address = f"http://127.0.0.1:{dash}"
    ray = [str(Path(sys.executable).parent / "ray"), "start"]  # this environment's ray
    try:
        subprocess.run([*ray, "--head", "--port", str(gcs), *head, *head_extra,
                        "--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash),
                        "--dashboard-agent-listen-port", str(free_port()), "--temp-dir", str(root / "head")],
                       env=env, check=True, capture_output=True, timeout=120)
        for i, args in enumerate(workers):
            (root / f"worker{i}").mkdir()
            subprocess.run([*ray, "--address", f"127.0.0.1:{gcs}", *args, "--dashboard-agent-listen-port",
                            str(free_port()), "--temp-dir", str(root / f"worker{i}")],
                           env=env, check=True, capture_output=True, timeout=120)
        deadline = time.time() + 60
        while len(alive_nodes(address)) < 1 + len(workers):
            if time.time() > deadline:
                pytest.fail("the Ray worker nodes did not join the head within 60 s")
            time.sleep(1)
        ROOTS[f"127.0.0.1:{gcs}"] = root
        yield address, f"127.0.0.1:{gcs}"
    finally:
        ROOTS.pop(f"127.0.0.1:{gcs}", None)
        for pid in descendants_and(str(root)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(root, ignore_errors=True)
