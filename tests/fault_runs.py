"""Helpers of the fault-injection tests (import by name: ``from fault_runs import ...``): the spec of a
small CNN grid that trains long enough to be hit mid-trial, ``hartune run``
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


def cnn_fault_spec(name: str, uri: str, storage: str, retries: int, epochs: int,
                   variants: dict[str, Any] | None = None, stride: int = 100) -> dict[str, Any]:
    """A grid of small CNNs on the watch data (stride 100: epochs of about 0.1 s on the idle machine),
    one at a time, every epoch written to MLflow at once (a test can see a trial mid-training), no
    models logged. A smaller ``stride`` gives proportionally longer epochs."""
    from spec_runs import watch_entry

    return {
        "name": name,
        "seeds": [0],
        "max_concurrent": 1,
        "retries": retries,
        "tracking": {"uri": uri, "metrics_every_s": 0, "log_models": "none"},
        "storage": storage,
        "datasets": {"watch": watch_entry(epochs=epochs, stride=stride)},
        "models": {"cnn": {"name": "cnn", "channels": [16, 16], "hidden": 16}},
        "stages": [{"name": "grid", "kind": "grid", "variants": variants or {"A": {"model": "cnn"}}}],
    }


def first_trial_epochs(c: MlflowClient, experiment: str) -> int:
    """How many epochs the first trial run of ``experiment`` has in MLflow (0 before it exists)."""
    found = all_trials(c, experiment)
    return len(c.get_metric_history(found[0].info.run_id, "val_loss")) if found else 0


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


SNAPSHOT_ENV = {"TUNE_GLOBAL_CHECKPOINT_S": "1"}  # Tune's experiment snapshot every second (see tune_epochs)


def tune_epochs(storage: Path) -> list[int]:
    """The ``epoch`` of every result in Tune's record of the one trial under ``storage`` (its
    ``result.json``), in order; [] before the first.

    That file is the driver's record as of its last experiment snapshot (Ray copies the driver's
    folder to the storage path with each snapshot: every 10 s or more by default), and a retried trial
    continues from that copy: results after the last snapshot before a kill are not in Tune's record
    (MLflow has every epoch). A fault test that reads this record times its kill by this, with
    ``SNAPSHOT_ENV`` (a snapshot a second); timed by MLflow alone, its kill saw Tune's record end at
    epoch 2 while MLflow had 4 (CI, under load)."""
    from spec_runs import tune_results

    trials = tune_results(storage)
    assert len(trials) <= 1, trials
    return [int(row["epoch"]) for rows in trials for row in rows]


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
