"""Two runs at once (issue 21, fault 7): two ``hartune run`` processes of different specs, running at
the same time, into one MLflow store, one Ray storage folder and so one Optuna database and one generator
cache. Each spec is a TPE search with diffusion augmentation (its own tiny generator). No cross-talk:
each experiment holds its own run tree and nothing else, each study its own trials exactly once, each
generator is trained once and used only by its own spec's trials."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from fault_runs import hartune_run
from spec_runs import watch_entry

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

SAMPLES = 2


def tiny_generator(epochs: int) -> dict:
    return {
        "timesteps": 50,
        "epochs": epochs,
        "batch_size": 64,
        "denoiser": {"width": 16, "channel_mult": [1, 2]},
        "sampling": {"sampler": "ddim", "ddim_steps": 5},
    }


def spec(d: Path, name: str, generator_epochs: int, lr_low: float) -> Path:
    doc = {
        "name": name,
        "seeds": [0],
        "max_concurrent": 1,
        "tracking": {"uri": f"sqlite:///{d}/mlflow.db", "log_models": "none"},  # one store for both
        "storage": str(d / "ray"),  # one Ray storage: one optuna.db and one generators/ beside it
        "datasets": {"watch": watch_entry(epochs=2, imbalance=5)},
        "models": {"cnn": {"name": "cnn", "channels": [16, 16], "hidden": 16}},
        "stages": [
            {
                "name": "search",
                "kind": "search",
                "sampler": "tpe",
                "num_samples": SAMPLES,
                "base": {
                    "model": "cnn",
                    "augment": {"mode": "mix", "ratio": 1.0, "generator": tiny_generator(generator_epochs)},
                },
                "space": {"train.lr": {"type": "float", "low": lr_low, "high": lr_low * 3, "log": True}},
            }
        ],
    }
    path = d / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """Both runs, the second started once the first has made its parent run (two local Rays starting in
    the same second time out on a loaded 2-core machine); they overlap from then on (asserted)."""
    d = tmp_path_factory.mktemp("twins")
    c = MlflowClient(f"sqlite:///{d}/mlflow.db")
    procs = []
    for name, gen_epochs, lr in (("twin_a", 3, 1e-3), ("twin_b", 4, 3e-3)):
        if procs:
            deadline = time.time() + 300
            while (
                procs[0].poll() is None
                and time.time() < deadline
                and not (
                    c.get_experiment_by_name("twin_a")
                    and c.search_runs([c.get_experiment_by_name("twin_a").experiment_id])
                )
            ):
                time.sleep(0.5)
        procs.append(hartune_run(spec(d, name, gen_epochs, lr)))
    outs = [p.communicate(timeout=800) for p in procs]
    return [p.returncode for p in procs], [o + e for o, e in outs], c, d


def test_each_experiment_holds_its_own_run_tree(both) -> None:
    rcs, outs, c, _ = both
    assert rcs == [0, 0], "\n".join(o[-2000:] for o in outs)
    for name in ("twin_a", "twin_b"):
        exp = c.get_experiment_by_name(name)
        every = c.search_runs([exp.experiment_id])
        by_level: dict[str, list] = {}
        for r in every:
            by_level.setdefault(r.data.tags["hartune.level"], []).append(r)
        assert {k: len(v) for k, v in by_level.items()} == {"run": 1, "stage": 1, "trial": SAMPLES}
        (parent,), (stage,) = by_level["run"], by_level["stage"]
        assert stage.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert all(t.data.tags["mlflow.parentRunId"] == stage.info.run_id for t in by_level["trial"])
        assert parent.data.tags["hartune.spec"] == name  # and every run of the tree has its spec's hash:
        assert {r.data.tags["hartune.spec_hash"] for r in every} == {parent.data.tags["hartune.spec_hash"]}
        assert all(r.info.status == "FINISHED" for r in every)
        assert stage.data.metrics["trials_finished"] == SAMPLES
    a, b = (c.get_experiment_by_name(n).experiment_id for n in ("twin_a", "twin_b"))
    (pa,), (pb,) = (c.search_runs([e], "tags.`hartune.level` = 'run'") for e in (a, b))
    assert pb.info.start_time < pa.info.end_time  # the two runs were running at the same time
    ids_a = {r.info.run_id for r in c.search_runs([a])}
    assert not ids_a & {r.data.tags.get("mlflow.parentRunId") for r in c.search_runs([b])}


def test_each_study_has_its_own_trials_once(both) -> None:
    _, _, c, d = both
    storage = f"sqlite:///{d}/optuna.db"
    names = sorted(optuna.get_all_study_names(storage))
    assert [n.split(".")[0] for n in names] == ["twin_a", "twin_b"]  # one study per stage run
    for name, low in zip(names, (1e-3, 3e-3), strict=True):
        study = optuna.load_study(study_name=name, storage=storage)
        assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * SAMPLES
        assert all(low <= t.params["train.lr"] <= low * 3 for t in study.trials)  # its own space
        exp = c.get_experiment_by_name(name.split(".")[0])
        trials = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
        assert sorted(float(t.data.params["train.lr"]) for t in trials) == pytest.approx(
            sorted(t.params["train.lr"] for t in study.trials)
        )


def test_each_generator_is_trained_once_and_used_by_its_own_spec(both) -> None:
    _, _, c, d = both
    keys = {}
    for name in ("twin_a", "twin_b"):
        exp = c.get_experiment_by_name(name)
        trials = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
        (keys[name],) = {t.data.tags["hartune.generator_key"] for t in trials}
        assert sorted(t.data.tags["hartune.generator_trained"] for t in trials) == ["false"] * (
            SAMPLES - 1
        ) + ["true"]
    assert keys["twin_a"] != keys["twin_b"]
    cached = sorted(p.name for p in (d / "generators").iterdir() if p.is_dir())
    assert cached == sorted(keys.values())
