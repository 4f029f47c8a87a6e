"""What a trial reports to Tune (issue 20): the epochs its scheduler reads, its checkpoints, the live
view's (at most one every ``tracking.metrics_every_s``) and the final result, not every epoch.

The schedulers' epochs are checked against the schedulers Ray builds (for every registered scheduler),
ASHA is shown to decide the same on those epochs alone as on all of them, and a real run shows what
Tune and MLflow each receive."""

from __future__ import annotations

import math
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler

from hartune.tune.schedulers import SCHEDULERS, AshaConfig
from hartune.tune.search import FINAL
from spec_runs import run_spec, tune_results, watch_entry


def ray_rungs(scheduler) -> set[int]:
    """The epochs at which Ray's ASHA records a rung: each bracket's milestones, as integer epochs."""
    return {math.ceil(m) for b in scheduler._brackets for m, _ in b._rungs}


ASHA_CASES = [{"grace_period": g, "reduction_factor": rf, "brackets": b, "max_t": t}
              for g in (1, 2, 3) for rf in (1.5, 2.0, 3.0, 4.0) for b in (1, 2, 3) for t in (None, 27)]


@pytest.mark.parametrize("name", SCHEDULERS.names())
@pytest.mark.parametrize("max_t", [1, 8, 20, 64])
def test_each_schedulers_epochs_are_the_ones_the_built_scheduler_reads(name: str, max_t: int) -> None:
    cfg = SCHEDULERS.get(name).model_validate({"name": name})
    judged = cfg.judged_epochs(max_t)
    sched = cfg.build("val_f1_macro", "max", max_t)
    if hasattr(sched, "_brackets"):  # ASHA: its rungs
        assert judged == {e for e in ray_rungs(sched) if e <= max_t}
    elif type(sched).__name__ == "FIFOScheduler":  # reads no result
        assert judged == frozenset()
    else:  # the median rule keeps a running mean of every result
        assert judged is None


@pytest.mark.parametrize("params", ASHA_CASES, ids=lambda p: "-".join(f"{v}" for v in p.values()))
def test_asha_epochs_match_ray_for_any_grace_factor_and_brackets(params: dict) -> None:
    cfg = AshaConfig(**params)
    max_t = 40
    if cfg.max_t is None or cfg.max_t >= cfg.grace_period:
        sched = cfg.build("m", "max", max_t)
        assert cfg.judged_epochs(max_t) == {e for e in ray_rungs(sched) if e <= max_t}


def decisions(cfg: AshaConfig, curves: dict[str, list[float]], judged: frozenset[int] | None) -> dict[str, int]:
    """Feed ASHA the trials' results, round-robin by epoch, only on ``judged`` epochs (None: all);
    returns the epoch at which each trial was stopped (0: never)."""
    import numpy as np

    np.random.seed(0)  # ASHA puts each new trial in a bracket at random (numpy's global generator)
    epochs = len(next(iter(curves.values())))
    sched = cfg.build("score", "max", epochs)
    trials = {k: SimpleNamespace(trial_id=k) for k in curves}
    for t in trials.values():
        sched.on_trial_add(None, t)
    stopped: dict[str, int] = dict.fromkeys(curves, 0)
    for e in range(1, epochs + 1):
        for k, curve in curves.items():
            if stopped[k] or (judged is not None and e not in judged):
                continue
            if sched.on_trial_result(None, trials[k], {"epoch": e, "score": curve[e - 1]}) == TrialScheduler.STOP:
                stopped[k] = e
    return stopped


@pytest.mark.parametrize("params", [{"grace_period": 1, "reduction_factor": 2}, {"grace_period": 2, "reduction_factor": 3},
                                    {"grace_period": 1, "reduction_factor": 1.5, "brackets": 2}])
def test_asha_stops_the_same_trials_at_the_same_epochs_when_it_sees_only_its_epochs(params: dict) -> None:
    rng = random.Random(0)
    curves = {f"t{i}": [rng.random() * e / 20 + rng.random() * 0.1 for e in range(1, 21)] for i in range(12)}
    cfg = AshaConfig(**params)
    every = decisions(cfg, curves, None)
    assert any(every.values())  # the case is one where ASHA stops some trials
    assert decisions(cfg, curves, cfg.judged_epochs(20)) == every


def results_by_trial(folder: Path) -> dict[str, list[dict]]:
    """Each trial's results as Tune recorded them (its ``result.json``), by trial id."""
    return {rows[0]["trial_id"]: rows for rows in tune_results(folder / "ray")}


EPOCHS = 8  # ASHA (grace 2, factor 2) has rungs at 2, 4 and 8


def cadence_spec(name: str) -> dict:
    return {
        "name": name,
        "seeds": [0],
        "max_concurrent": 2,
        "datasets": {"watch": watch_entry(epochs=EPOCHS, stride=200)},
        "models": {"cnn": {"name": "cnn", "channels": [8], "hidden": 8}},
        "stages": [{
            "name": "lr", "kind": "search", "base": {"model": "cnn"}, "num_samples": 2, "sampler": "random",
            "space": {"train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}},
            "scheduler": {"name": "asha", "grace_period": 2, "reduction_factor": 2},
        }],
    }


@pytest.mark.parametrize(("tune_reports", "reported"), [
    ("needed", [1, 2, 4, 8]),  # the first epoch (the view, the first checkpoint) and ASHA's rungs
    pytest.param("every_epoch", list(range(1, EPOCHS + 1)), marks=pytest.mark.slow),  # the old behaviour
])
def test_a_run_reports_to_tune_what_is_read_and_every_epoch_to_mlflow(tmp_path: Path, tune_reports: str,
                                                                     reported: list[int], monkeypatch, ray_local) -> None:
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts (./mlruns beside a SQLite store's runs) stay in it
    # metrics_every_s 3600: the live view asks for nothing after the first epoch in this short run
    code, c = run_spec(tmp_path, cadence_spec(f"cadence_{tune_reports}"), metrics_every_s=3600,
                       tune_reports=tune_reports, log_models="none")
    assert code == 0
    results = results_by_trial(tmp_path)
    assert len(results) == 2
    for rows in results.values():
        epochs = [int(r["epoch"]) for r in rows if not r.get(FINAL)]
        stopped = not rows[-1].get(FINAL)
        # a trial ASHA stops at a rung reports up to it; a finished one ends with its final report
        assert epochs == (reported[: len(epochs)] if stopped else reported)
    exp = c.get_experiment_by_name(f"cadence_{tune_reports}")
    trials = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
    assert len(trials) == 2
    for t in trials:  # MLflow has every epoch the trial trained, whatever Tune was told
        steps = [m.step for m in c.get_metric_history(t.info.run_id, "val_loss")]
        assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 2
