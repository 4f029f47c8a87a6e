"""A cross-validated search end to end on the shipped watch data: k-fold by subject (k = 3), a grid of
four learning rates searched by Optuna's grid sampler under ASHA, on real Ray Tune, a real Optuna study
(SQLite) and a real MLflow store, then promoted and loaded in a fresh process. One run serves every
assertion (~3 min on 2 cores).

What it checks, read back from the stores:
- every Optuna trial is one point whose value is the mean of its folds' values in MLflow;
- a point ASHA stopped has every fold stopped (KILLED) and its Optuna trial PRUNED;
- MLflow nests parent -> stage -> group (one per point, its fold means) -> fold trials with their
  fold and test subjects;
- the refit model (the best point trained on every subject) is what ``hartune promote`` registers,
  tagged with the cross-validation mean ± std, and it predicts raw windows in a fresh process.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

import optuna
import pytest

from hartune.cli import main
from spec_runs import run_spec, watch_entry

FOLDS = 3
LRS = [0.004, 0.002, 1e-6, 3e-7]  # the last two barely train: ASHA stops them at its first rung
SPEC = {
    "name": "cvsearch",
    "seeds": [0],
    "max_concurrent": 3,  # the three folds of a point train side by side
    "resources": {"cpu": 0.5},
    # 8 epochs: long enough that the three folds of a point overlap although Tune starts them one by one
    "datasets": {"watch": {**watch_entry(epochs=8, lr=0.003), "split": {"kind": "kfold", "k": FOLDS, "folds": "all"}}},
    "models": {"cnn": {"name": "cnn", "channels": [16, 16], "hidden": 32}},
    "stages": [{
        "name": "lr", "kind": "search", "refit": True,
        "space": {"train.lr": {"type": "grid", "values": LRS}}, "sampler": "grid", "sampler_seed": 5,  # seed 5 orders the grid good, good, bad, bad
        "base": {"model": {"name": "cnn", "channels": [16, 16], "hidden": 32}},
        "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2},
    }],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, ray_local):
    d = tmp_path_factory.mktemp("cv")
    rc, c = run_spec(d, SPEC)
    exp = c.get_experiment_by_name("cvsearch")
    runs = c.search_runs([exp.experiment_id], max_results=1000)
    return rc, c, runs, d


def level(runs, name: str) -> list:
    return [r for r in runs if r.data.tags.get("hartune.level") == name]


def children(runs, parent) -> list:
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


def study_of(d):
    storage = f"sqlite:///{d / 'optuna.db'}"
    (summary,) = [s for s in optuna.get_all_study_summaries(storage) if ".lr." in s.study_name]
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def test_the_run_finishes(finished) -> None:
    rc, *_ = finished
    assert rc == 0


def test_every_optuna_trial_is_a_point_valued_at_its_fold_mean(finished) -> None:
    _, c, runs, d = finished
    study = study_of(d)
    (stage,) = level(runs, "stage")
    groups = {r.data.tags["hartune.group"]: r for r in children(runs, stage) if r.data.tags["hartune.level"] == "group"}
    assert len(study.trials) == len(LRS) == len(groups)
    for t in study.trials:
        group = groups[f"point-{t.number}"]
        folds = children(runs, group)
        trained = sorted(int(f.data.tags["hartune.fold"]) for f in folds)
        # a complete point trained every fold; a stopped one may never have started its later folds
        assert trained == list(range(FOLDS)) if t.state.name == "COMPLETE" else set(trained) <= set(range(FOLDS))
        assert all(f.data.params["train.lr"] == str(t.params["train.lr"]) for f in folds)
        assert group.data.metrics["folds"] == FOLDS
        if t.state.name == "COMPLETE":
            values = [f.data.metrics["best_val_f1_macro"] for f in folds]
            assert t.value == pytest.approx(statistics.fmean(values), abs=1e-9)
            assert group.data.metrics["val_f1_macro"] == pytest.approx(t.value, abs=1e-9)
            assert group.data.metrics["folds_finished"] == FOLDS and group.info.status == "FINISHED"


def test_a_point_asha_stopped_has_every_fold_stopped_and_is_pruned(finished) -> None:
    _, c, runs, d = finished
    study = study_of(d)
    (stage,) = level(runs, "stage")
    groups = {r.data.tags["hartune.group"]: r for r in children(runs, stage) if r.data.tags["hartune.level"] == "group"}
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned, [(t.params, t.state.name, t.intermediate_values) for t in study.trials]
    for t in pruned:
        group = groups[f"point-{t.number}"]
        folds = children(runs, group)
        # every fold that started was stopped; the others never trained (listed in folds.csv as such)
        assert folds and {f.info.status for f in folds} == {"KILLED"}
        assert {f.data.tags["hartune.status"] for f in folds} == {"stopped_early"}
        assert group.info.status == "KILLED" and group.data.metrics["folds_finished"] == 0
        table = c.download_artifacts(group.info.run_id, "folds.csv")
        rows = open(table).read().splitlines()[1:]
        assert len(rows) == FOLDS and sum(",not trained," in r for r in rows) == FOLDS - len(folds)
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)


def test_fold_trials_name_their_fold_and_test_subjects(finished) -> None:
    _, c, runs, _ = finished
    trials = [r for r in level(runs, "trial") if "hartune.fold" in r.data.tags]
    by_fold: dict[str, set[str]] = {}
    for t in trials:
        by_fold.setdefault(t.data.tags["hartune.fold"], set()).add(t.data.tags["hartune.test_subjects"])
    assert sorted(by_fold) == ["0", "1", "2"] and all(len(v) == 1 for v in by_fold.values())
    subjects = [s for v in by_fold.values() for s in next(iter(v)).split(",")]
    assert sorted(map(int, subjects)) == list(range(1, 11))  # every subject tested exactly once


def test_the_refit_model_is_promoted_and_predicts_raw_windows_in_a_fresh_process(finished, tmp_path) -> None:
    _, c, runs, d = finished
    (refit,) = [r for r in level(runs, "trial") if r.data.tags.get("hartune.refit") == "true"]
    assert refit.data.params["data.split.kind"] == "all" and "test_f1_macro" not in refit.data.metrics
    assert refit.data.metrics["cv_folds"] == FOLDS and "cv_test_f1_macro_std" in refit.data.metrics
    uri = f"sqlite:///{d}/mlflow.db"
    assert main(["promote", "cvsearch", "--uri", uri]) == 0
    mv = c.get_model_version_by_alias("cvsearch", "champion")
    assert mv.run_id == refit.info.run_id
    assert "mean ± std over 3 folds" in mv.tags["hartune.expected_f1_macro"]
    assert "kfold by subject" in mv.tags["hartune.cv_protocol"]
    script = (
        "import mlflow, numpy as np\n"
        "from hartune.data import DataConfig, WindowConfig\n"
        "from hartune.data.datasets import load_recordings\n"
        "from hartune.data.windows import make_windows\n"
        f"mlflow.set_tracking_uri({uri!r})\n"
        "w = make_windows(load_recordings(DataConfig().dataset), WindowConfig(length=100, stride=100))\n"
        "m = mlflow.pyfunc.load_model('models:/cvsearch@champion')\n"
        "out = m.predict(np.ascontiguousarray(w.x[:16], dtype=np.float32))\n"
        "print(len(out), (out['label_index'].to_numpy() == w.y[:16]).mean())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    n, acc = done.stdout.split()
    assert int(n) == 16 and 0.0 <= float(acc) <= 1.0


def test_the_report_reads_one_point_per_trial_and_has_the_per_subject_table_and_plot(finished) -> None:
    import csv

    _, _, runs, d = finished
    out = d / "report"
    assert main(["report", "cvsearch", "--uri", f"sqlite:///{d}/mlflow.db", "--out", str(out), "--no-tsne"]) == 0
    folder = out / "lr"
    (stage,) = level(runs, "stage")
    groups = {r.info.run_id[:8]: r for r in children(runs, stage) if r.data.tags.get("hartune.level") == "group"}
    points = list(csv.DictReader((folder / "trials.csv").open()))
    assert len(points) == len(groups) == len(LRS)  # one row per point, not per fold
    assert {p["point"]: p["state"] for p in points} == {f"point {t.number}": t.state.name.lower()
                                                         for t in study_of(d).trials}  # as Optuna saw them
    for p in points:
        g = groups[p["run"]]
        if p["state"] == "complete":
            assert float(p["val_f1_macro (fold mean)"]) == pytest.approx(g.data.metrics["val_f1_macro"])
            assert p["folds finished"] == f"{FOLDS}/{FOLDS}"
    best = max((g for g in groups.values() if g.info.status == "FINISHED"), key=lambda g: g.data.metrics["val_f1_macro"])
    per_fold = list(csv.DictReader((folder / "best_point_folds.csv").open()))
    assert [r["fold"] for r in per_fold] == [*map(str, range(FOLDS)), "mean", "std"]
    assert float(per_fold[FOLDS]["val_f1_macro"]) == pytest.approx(best.data.metrics["val_f1_macro"])
    assert float(per_fold[FOLDS + 1]["F1"]) == pytest.approx(best.data.metrics["test_f1_macro_std"])
    subjects = list(csv.DictReader((folder / "per_subject.csv").open()))
    assert sorted(int(r["subject"]) for r in subjects) == list(range(1, 11))  # every subject once
    assert all(r[f"{best.info.run_name}: F1"] for r in subjects)
    assert (folder / "per_subject.png").stat().st_size > 5000
    assert "![per subject](per_subject.png)" in (folder / "report.md").read_text()
