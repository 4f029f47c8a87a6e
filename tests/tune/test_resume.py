"""Resume after the driver is killed: a real ``hartune run`` in its own process (its own local Ray)
is SIGKILLed, process group and all, in its second stage (a TPE search) while one trial has finished
and the next is mid-training; then
``hartune run --resume`` finishes the job. MLflow must end with exactly one run per trial, none
duplicated or missing, each FINISHED; the finished trial is not run again; the interrupted one
continues from a checkpoint instead of starting over (about a minute and a half)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from spec_runs import watch_entry

# end-to-end runs on a real Ray (each over 20 s): left out of the default run, .ci/run runs them
pytestmark = pytest.mark.slow

EPOCHS = 12
SPEC = {
    "name": "resumable",
    "seeds": [0],
    "max_concurrent": 1,  # one trial at a time: a clean "finished / mid-training / not started" cut
    "datasets": {"watch": watch_entry(epochs=EPOCHS, stride=100, lr=0.003)},
    "models": {"cnn": {"name": "cnn", "channels": [32, 32], "hidden": 32}},
    "stages": [
        {"name": "grid", "kind": "grid", "variants": {"A": {"model": "cnn"}, "B": {"model": "cnn", "train": {"lr": 0.001}}}},
        {"name": "search", "kind": "search", "from_stage": "grid", "sampler": "tpe", "num_samples": 3,
         "space": {"train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}}},
    ],
}
TRIALS = 2 + 3


def trials(c: MlflowClient, name: str = "resumable") -> list:
    exp = c.get_experiment_by_name(name)
    return [] if exp is None else c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")


def hartune(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hartune.cli", *args], cwd=cwd, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_and_resume(d: Path, spec: dict, epochs: int) -> tuple:
    """Run ``spec``, SIGKILL the driver once a search trial finished and the next is mid-training,
    then ``--resume``; returns (exit code, output, client, the cut, epochs the cut trial had)."""
    uri = f"sqlite:///{d}/mlflow.db"
    path = d / f"{spec['name']}.yaml"
    # metrics_every_s 0: every epoch is in MLflow as it ends, so the cut below can see one mid-training
    path.write_text(yaml.safe_dump({**spec, "tracking": {"uri": uri, "metrics_every_s": 0}, "storage": str(d / "ray")},
                                   sort_keys=False))
    c = MlflowClient(uri)
    first = hartune("run", str(path), "--quiet", cwd=d)
    cut, deadline = None, time.time() + 300
    while cut is None and time.time() < deadline and first.poll() is None:
        runs = [r for r in trials(c, spec["name"]) if r.data.tags.get("hartune.stage") == "search"]  # 2nd stage
        done = [r for r in runs if r.info.status == "FINISHED"]
        going = [r for r in runs if r.info.status == "RUNNING"]
        if done and going and 2 <= len(c.get_metric_history(going[0].info.run_id, "val_f1_macro")) < epochs - 2:
            cut = {"done": {r.info.run_id: r.info.end_time for r in done}, "going": going[0].info.run_id, "dir": d}
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the driver and everything it started (its local Ray)
    first.wait()
    assert cut is not None, "never saw one search trial finished and the next mid-training"
    epochs_before = len(c.get_metric_history(cut["going"], "val_f1_macro"))
    second = hartune("run", str(path), "--quiet", "--resume", cwd=d)
    out, _ = second.communicate(timeout=600)
    return second.returncode, out, c, cut, epochs_before


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    return kill_and_resume(tmp_path_factory.mktemp("resume"), SPEC, EPOCHS)


def test_resume_finishes_with_exactly_one_finished_run_per_trial(resumed) -> None:
    rc, out, c, _, _ = resumed
    assert rc == 0, out
    runs = trials(c)
    # A trial the driver started but had not yet written into Tune's experiment state when it died is
    # unknown to the restored experiment: Tune samples its slot again, and its MLflow run is closed
    # KILLED (status tag "lost"). Every other trial has exactly one run, FINISHED; none stays RUNNING.
    lost = [r for r in runs if r.data.tags.get("hartune.status") == "lost"]
    done = [r for r in runs if r not in lost]
    assert all(r.info.status == "KILLED" for r in lost) and len(lost) <= 1
    assert sorted(r.data.tags["hartune.variant"] for r in done) == ["A", "B", "base", "base", "base"]
    assert len({r.data.tags["hartune.trial_id"] for r in runs}) == len(runs)  # one run per trial id
    assert all(r.info.status == "FINISHED" for r in done)
    exp = c.get_experiment_by_name("resumable")
    parents = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'run'")
    stages = {r.info.run_name: r for r in c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'stage'")}
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert set(stages) == {"grid", "search"} and all(r.info.status == "FINISHED" for r in stages.values())
    assert stages["search"].data.metrics["trials_finished"] == 3


def test_the_optuna_study_survives_the_driver(resumed) -> None:
    """The search's study lives in SQLite beside Ray's storage by default: after the resume it holds
    the three finished trials, each told once, and nothing left RUNNING."""
    import optuna

    _, _, _, cut, _ = resumed
    storage = f"sqlite:///{cut['dir']}/optuna.db"
    (name,) = [n for n in optuna.get_all_study_names(storage) if n.startswith("resumable.search.")]
    study = optuna.load_study(study_name=name, storage=storage)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3  # each finished trial told once
    assert set(states) <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL}  # lost: FAIL


def test_finished_trial_not_rerun_and_interrupted_one_continues(resumed) -> None:
    _, _, c, cut, epochs_before = resumed
    for run_id, end_time in cut["done"].items():  # untouched by the resume
        run = c.get_run(run_id)
        assert run.info.end_time == end_time
        assert [m.step for m in c.get_metric_history(run_id, "val_f1_macro")] == list(range(1, EPOCHS + 1))
    going = c.get_run(cut["going"])
    if going.data.tags.get("hartune.status") == "lost":  # Tune had not recorded it: closed, not resumed
        assert going.info.status == "KILLED"
        return
    history = c.get_metric_history(cut["going"], "val_f1_macro")
    steps = [m.step for m in history]
    assert sorted(set(steps)) == list(range(1, EPOCHS + 1))  # every epoch, once it finished
    # It continued from a checkpoint instead of starting over: epoch 1 was logged once. The epochs
    # between the checkpoint Tune had recorded in its experiment state (saved every few seconds) and the
    # kill are trained and logged again, so a step can appear twice in the metric history.
    assert epochs_before >= 2 and steps.count(1) == 1
    assert len(steps) < epochs_before + EPOCHS


CV_FOLDS, CV_EPOCHS = 2, 8
CV_SPEC = {  # the same two stages on a fold axis: 2 folds per configuration
    **SPEC, "name": "resumable_cv",
    "datasets": {"watch": {**watch_entry(epochs=CV_EPOCHS, stride=100, lr=0.003),
                           "split": {"kind": "kfold", "k": CV_FOLDS, "folds": "all"}}},
    "stages": [
        {"name": "grid", "kind": "grid", "variants": {"A": {"model": "cnn"}}},
        {"name": "search", "kind": "search", "from_stage": "grid", "sampler": "tpe", "num_samples": 2,
         "space": {"train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}}},
    ],
}


@pytest.fixture(scope="module")
def resumed_cv(tmp_path_factory):
    return kill_and_resume(tmp_path_factory.mktemp("resume_cv"), CV_SPEC, CV_EPOCHS)


def test_resume_keeps_one_run_per_fold_trial_and_one_per_group(resumed_cv) -> None:
    """Killed mid-search on a fold axis and resumed: every group (configuration) has exactly one run,
    every fold of it exactly one finished trial run (besides at most one lost and closed), and every
    point is told to Optuna once, at its fold mean."""
    import optuna

    rc, out, c, cut, _ = resumed_cv
    assert rc == 0, out
    exp = c.get_experiment_by_name("resumable_cv")
    groups = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'group'")
    keys = [(g.data.tags["mlflow.parentRunId"], g.data.tags["hartune.group"]) for g in groups]
    assert len(keys) == len(set(keys)) == 1 + 2  # grid A, search point-0 and point-1: once each
    assert all(g.info.status == "FINISHED" and g.data.metrics["folds"] == CV_FOLDS for g in groups)
    runs = trials(c, "resumable_cv")
    lost = [r for r in runs if r.data.tags.get("hartune.status") == "lost"]
    assert len(lost) <= 1 and all(r.info.status == "KILLED" for r in lost)
    assert len({r.data.tags["hartune.trial_id"] for r in runs}) == len(runs)
    done = [r for r in runs if r not in lost]
    per_fold = [(r.data.tags["mlflow.parentRunId"], r.data.tags["hartune.fold"]) for r in done]
    assert len(per_fold) == len(set(per_fold)) == 3 * CV_FOLDS and all(r.info.status == "FINISHED" for r in done)
    storage = f"sqlite:///{cut['dir']}/optuna.db"
    (name,) = [n for n in optuna.get_all_study_names(storage) if n.startswith("resumable_cv.search.")]
    study = optuna.load_study(study_name=name, storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2
    by_group = {g.data.tags["hartune.group"]: g for g in groups}
    for t in complete:
        assert t.value == pytest.approx(by_group[f"point-{t.number}"].data.metrics["val_f1_macro"], abs=1e-9)
