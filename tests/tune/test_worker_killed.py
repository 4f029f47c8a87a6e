"""A worker killed mid-trial (issue 21, fault 3): the process running the trial (Tune's ``ImplicitFunc``
actor) gets SIGKILL, as from the OOM killer, while ``hartune run`` trains one trial in its own process
(its own local Ray). With ``retries: 1`` the trial continues from its last checkpoint in the same MLflow
run and no epoch step repeats in its metric history; with ``retries: 0`` it is recorded as failed with
the reason, and the stage and the run complete."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from fault_runs import SNAPSHOT_ENV, cnn_fault_spec, hartune_run, tune_epochs
from processes import process_table

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

EPOCHS = 30
STRIDE = 25  # 4x the fault spec's windows: epochs of about 0.4 s, so the kill lands well before epoch 30
KILL_AFTER = 4  # epochs in MLflow and in Tune when the worker is killed; the first epoch's checkpoint always exists


def descendants(pid: int) -> dict[int, str]:
    """The processes under ``pid`` (from /proc) with their command lines."""
    table = process_table()
    found = {pid}
    while new := {p for p, (pp, _) in table.items() if pp in found} - found:
        found |= new
    return {p: table[p][1] for p in found if p in table and p != pid}


def trial_worker(driver: int) -> int | None:
    """The pid of the Ray worker running the trial (Ray titles it ``ray::ImplicitFunc...``)."""
    hits = [p for p, cmd in descendants(driver).items() if cmd.startswith("ray::ImplicitFunc")]
    return hits[0] if len(hits) == 1 else None


def run_and_kill(d: Path, retries: int) -> tuple[int, str, MlflowClient, int]:
    """``hartune run`` of one trial; SIGKILL of its worker once Tune has recorded ``KILL_AFTER`` epochs
    (``tune_epochs``); returns the exit code, output, a client and the pid killed."""
    uri = f"sqlite:///{d}/mlflow.db"
    spec = cnn_fault_spec("killed", uri, str(d / "ray"), retries=retries, epochs=EPOCHS, stride=STRIDE)
    path = d / "killed.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = hartune_run(path, env=SNAPSHOT_ENV)
    c = MlflowClient(uri)
    killed, deadline = None, time.time() + 400
    try:
        while killed is None and proc.poll() is None and time.time() < deadline:
            # Tune's record alone (tune_epochs), no MLflow query (a first query opens the store: seconds):
            # the trial writes each epoch to MLflow before it reports it (metrics_every_s 0)
            pid = trial_worker(proc.pid)
            if pid and len(tune_epochs(d / "ray")) >= KILL_AFTER:
                os.kill(pid, signal.SIGKILL)
                killed = pid
                seen = tune_epochs(d / "ray")
                if EPOCHS in seen:  # too late: the kill would test nothing
                    os.killpg(proc.pid, signal.SIGKILL)
                    pytest.fail(f"the trial had reported all {EPOCHS} epochs before its worker was killed: {seen}")
            time.sleep(0.05)
        if killed is None:
            out, err = proc.communicate(timeout=60) if proc.poll() is not None else ("", "")
            pytest.fail(
                f"never saw the trial's worker mid-training (rc {proc.returncode}): {out[-1500:]}{err[-3000:]}"
            )
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out + err, c, killed


@pytest.fixture(scope="module")
def retried(tmp_path_factory):
    d = tmp_path_factory.mktemp("retry1")
    return (*run_and_kill(d, retries=1), d)


@pytest.fixture(scope="module")
def not_retried(tmp_path_factory):
    d = tmp_path_factory.mktemp("retry0")
    return (*run_and_kill(d, retries=0), d)


def tree(c: MlflowClient) -> dict[str, list]:
    exp = c.get_experiment_by_name("killed")
    out: dict[str, list] = {"run": [], "stage": [], "trial": []}
    for r in c.search_runs([exp.experiment_id]):
        out[r.data.tags["hartune.level"]].append(r)
    return out


def test_with_a_retry_the_trial_continues_from_its_checkpoint_in_its_run(retried) -> None:
    rc, out, c, _, d = retried
    assert rc == 0, out[-3000:]
    runs = tree(c)
    assert [len(runs[k]) for k in ("run", "stage", "trial")] == [1, 1, 1]  # the same MLflow run
    (trial,) = runs["trial"]
    assert trial.info.status == "FINISHED" and "test_accuracy" in trial.data.metrics
    for key in ("val_loss", "train_loss", "val_f1_macro"):  # each epoch once, none repeated
        assert [m.step for m in c.get_metric_history(trial.info.run_id, key)] == list(range(1, EPOCHS + 1)), (
            key
        )
    assert runs["stage"][0].data.metrics["trials_finished"] == 1
    # Tune saw the first attempt up to the kill, then the second from its checkpoint's next epoch, not 1
    epochs = tune_epochs(d / "ray")
    cut = next(i for i in range(1, len(epochs)) if epochs[i] <= epochs[i - 1])
    assert epochs[:cut] == list(range(1, epochs[cut - 1] + 1)) and epochs[cut - 1] >= KILL_AFTER
    assert 1 < epochs[cut] <= epochs[cut - 1]  # continued from a checkpoint after epoch 1
    assert epochs[cut:-1] == list(range(epochs[cut], EPOCHS + 1))  # the final report repeats the last epoch


def test_without_a_retry_the_trial_fails_with_the_reason_and_the_stage_completes(not_retried) -> None:
    rc, out, c, pid, _ = not_retried
    assert "stage grid: 0 finished, 0 stopped early, 1 failed" in out, out[-3000:]
    (line,) = [x for x in out.splitlines() if x.startswith("trial A-watch-s0 (")]  # one line, no traceback
    assert "failed: " in line and "Traceback" not in out, out[-3000:]
    runs = tree(c)
    assert [len(runs[k]) for k in ("run", "stage", "trial")] == [1, 1, 1]
    (trial,) = runs["trial"]
    assert trial.info.status == "FAILED" and trial.data.tags["hartune.status"] == "failed"
    reason = trial.data.tags["hartune.error"]
    assert "died" in reason.lower() or "sigkill" in reason.lower() or str(pid) in reason, reason
    (stage,) = runs["stage"]
    assert stage.info.status == "FINISHED"
    assert (stage.data.metrics["trials_finished"], stage.data.metrics["trials_failed"]) == (0, 1)
    steps = [m.step for m in c.get_metric_history(trial.info.run_id, "val_loss")]
    assert steps == list(range(1, len(steps) + 1)) and KILL_AFTER <= len(steps) < EPOCHS  # what it trained
    assert rc == 0 and runs["run"][0].info.status == "FINISHED", out[-3000:]
