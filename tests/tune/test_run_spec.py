"""End to end: a real tiny spec through real Ray Tune (Optuna TPE + ASHA) into a real MLflow SQLite
store, read back. One run of the spec serves every assertion (it costs about a minute)."""

from __future__ import annotations

import optuna
import pytest
from mlflow.tracking import MlflowClient

from spec_runs import run_spec, watch_entry

SPEC = {
    "name": "tiny",
    "seeds": [0],
    "max_concurrent": 2,
    "datasets": {
        "watch": watch_entry(epochs=3, imbalance=5, lr=0.003)
    },
    "models": {"cnn": {"name": "cnn"}, "backbone": {"name": "usad_backbone", "widths": [32, 32]}},
    "stages": [
        {
            "name": "grid",
            "kind": "grid",
            "variants": {
                "CNN": {"model": "cnn"},
                "Backbone Only": {"model": "backbone"},
                # forced to NaN: Adam with lr 1e30 blows the weights up within the first batches
                "Diverging": {"model": "cnn", "train": {"lr": 1.0e30, "lr_schedule": "none"}},
            },
        },
        {
            "name": "search",
            "kind": "search",
            "from_stage": "grid",
            "space": {"train.lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-2, "log": True}},
            "sampler": "tpe",
            "num_samples": 5,
            "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2},
        },
    ],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, ray_local):
    d = tmp_path_factory.mktemp("run")
    rc, c = run_spec(d, SPEC, optuna_storage=f"sqlite:///{d}/optuna.db")
    return rc, c, d


def _tree(c: MlflowClient):
    exp = c.get_experiment_by_name("tiny")
    every = c.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in every if r.data.tags.get("hartune.level") == "run"]
    stages = [r for r in every if r.data.tags.get("hartune.level") == "stage"]
    trials = [r for r in every if r.data.tags.get("hartune.level") == "trial"]
    return exp, parents, stages, trials


def test_run_tree_parent_stage_trial(finished) -> None:
    rc, c, _ = finished
    assert rc == 0
    _, parents, stages, trials = _tree(c)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(s.info.run_name for s in stages) == ["grid", "search"]
    assert all(s.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for s in stages)
    by_stage = {s.info.run_name: [t for t in trials if t.data.tags["mlflow.parentRunId"] == s.info.run_id] for s in stages}
    assert len(by_stage["grid"]) == 3 and len(by_stage["search"]) == 5  # exactly one run per trial
    assert len({t.data.tags["hartune.trial_id"] for t in trials}) == 8
    assert all(t.info.status in ("FINISHED", "KILLED", "FAILED") for t in trials)  # none left RUNNING


def test_trial_params_metrics_and_artifacts(finished) -> None:
    _, c, _ = finished
    _, _, _, trials = _tree(c)
    cnn = next(t for t in trials if t.data.params.get("variant") == "CNN")
    p = cnn.data.params
    assert p["model.name"] == "cnn" and p["seed"] == "0" and p["data.dataset.name"] == "watch"
    assert p["data.split.kind"] == "holdout" and p["train.lr"] == "0.003" and p["dataset_key"] == "watch"
    assert p["data.window.length"] == "100" and p["data.imbalance.ratio"] == "5.0"
    history = c.get_metric_history(cnn.info.run_id, "val_f1_macro")
    assert sorted(m.step for m in history) == [1, 2, 3]  # one step per epoch
    assert {"test_f1_macro", "test_gmean", "test_auc_macro", "train_loss"} <= set(cnn.data.metrics)
    assert len(cnn.data.tags["hartune.data_fingerprint"]) == 64 and cnn.data.tags["hartune.git_commit"]
    arts = {a.path for a in c.list_artifacts(cnn.info.run_id)}
    assert {"confusion_matrix.png", "spec.yaml", "per_class_report.json"} <= arts


def test_best_trial_of_each_stage_has_a_loadable_model(finished) -> None:
    import mlflow
    import numpy as np

    _, c, d = finished
    exp, _, stages, trials = _tree(c)
    for s in stages:
        best_run = s.data.tags["hartune.best_run_id"]
        models = c.search_logged_models([exp.experiment_id], filter_string=f"source_run_id = '{best_run}'")
        assert len(models) == 1
        mlflow.set_tracking_uri(f"sqlite:///{d}/mlflow.db")
        model = mlflow.pytorch.load_model(models[0].model_uri)
        assert model(__import__("torch").zeros(2, 100, 6)).shape == (2, 7)
        assert models[0].model_uri and np.isfinite(s.data.metrics["best_val_f1_macro"])


def test_nan_trial_is_failed_and_its_stage_completes(finished) -> None:
    _, c, _ = finished
    _, _, stages, trials = _tree(c)
    grid = next(s for s in stages if s.info.run_name == "grid")
    diverging = next(t for t in trials if t.data.params.get("variant") == "Diverging")
    assert diverging.info.status == "FAILED"
    assert "NonFiniteLossError" in diverging.data.tags["hartune.error"]
    assert grid.info.status == "FINISHED"
    assert grid.data.metrics["trials_failed"] == 1 and grid.data.metrics["trials_finished"] == 2
    assert grid.data.tags["hartune.best"] in ("CNN", "Backbone Only")


def test_search_starts_from_grid_best_and_early_stops_reach_optuna_as_pruned(finished) -> None:
    _, c, d = finished
    _, _, stages, trials = _tree(c)
    search = next(s for s in stages if s.info.run_name == "search")
    best_grid = next(s for s in stages if s.info.run_name == "grid").data.tags["hartune.best"]
    model = {"CNN": "cnn", "Backbone Only": "usad_backbone"}[best_grid]
    runs = [t for t in trials if t.data.tags["mlflow.parentRunId"] == search.info.run_id]
    assert {t.data.params["model.name"] for t in runs} == {model}
    storage = f"sqlite:///{d}/optuna.db"
    (name,) = [n for n in optuna.get_all_study_names(storage) if n.startswith("tiny.search.")]  # one per stage run
    study = optuna.load_study(study_name=name, storage=storage)
    state = {round(t.params["train.lr"], 12): t.state for t in study.trials}
    for t in runs:
        lr = round(float(t.data.params["train.lr"]), 12)
        if t.info.status == "KILLED":  # stopped early by ASHA
            assert state[lr] == optuna.trial.TrialState.PRUNED
        else:
            assert state[lr] == optuna.trial.TrialState.COMPLETE
