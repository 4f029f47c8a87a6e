"""Helpers of the fault-injection tests (import by name: ``from fault_runs import ...``): ``hartune run``
in a process of its own (its own local Ray in a temp dir of its own), its trial runs in MLflow, and a
wait that fails with the run's output if the run ends first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient


def hartune_run(path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``hartune run <path> --quiet`` in its own process group (``os.killpg`` ends it and its Ray), with
    Ray's session files in a fresh short temp dir (Unix socket paths are capped at 107 bytes)."""
    env = {
        **os.environ,
        "RAY_TMPDIR": f"/tmp/hrtf-{uuid.uuid4().hex[:6]}",
        "RAY_USAGE_STATS_ENABLED": "0",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "hartune.cli", "run", str(path), "--quiet", *extra],
        cwd=path.parent,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def trial_runs(c: MlflowClient, experiment: str) -> dict[str, Any]:
    """Variant -> trial run (grid stages, one trial per variant) of ``experiment``."""
    exp = c.get_experiment_by_name(experiment)
    found = [] if exp is None else c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
    return {r.data.tags.get("hartune.variant", r.info.run_id): r for r in found}


def all_trials(c: MlflowClient, experiment: str) -> list[Any]:
    exp = c.get_experiment_by_name(experiment)
    return [] if exp is None else c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")


def wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen, timeout_s: float = 400) -> None:
    """Poll ``check`` until true; fail (with the run's output) if the run ends first or time runs out."""
    deadline = time.time() + timeout_s
    while not check():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(
                f"hartune run ended before {what}: rc {proc.returncode}\n{out[-2000:]}\n{err[-3000:]}"
            )
        if time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)
