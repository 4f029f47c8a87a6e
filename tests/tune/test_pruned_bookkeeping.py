"""Real Ray Tune + real Optuna: trials that ASHA stops early are PRUNED in the Optuna study, finished
trials are COMPLETE with their final score; Ray's own OptunaSearch records stopped trials as COMPLETE."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
import ray
from pydantic import TypeAdapter
from ray import tune
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler
from ray.tune.search.optuna import OptunaSearch

from hartune.registry import ConfigError
from hartune.tune.samplers import make_sampler
from hartune.tune.schedulers import SCHEDULERS, AshaConfig, FifoConfig, MedianConfig
from hartune.tune.search import FINAL, PrunedAwareOptunaSearch, make_searcher
from hartune.tune.space import load_space

EPOCHS = 6
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


@pytest.fixture(scope="module")
def ray_session(ray_local: Any) -> None:
    """The shared local Ray (tests/tune/conftest.py); its workers cannot import this test module
    (pytest put the folder on the driver's sys.path only), so the trainable travels by value."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def trainable(config: dict[str, Any]) -> None:
    """score_t = x * t / E; the final report repeats the last epoch with the best score."""
    best = float("-inf")
    for t in range(1, EPOCHS + 1):
        time.sleep(0.05)
        score = config["x"] * t / EPOCHS
        best = max(best, score)
        tune.report({"epoch": t, "score": score})
    tune.report({"epoch": EPOCHS, "score": best, FINAL: True})


def _fit(
    tmp_path: Path, search_alg: Any, scheduler: Any, param_space: dict, num_samples: int
) -> tune.ResultGrid:
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        # metric/mode live in the searcher and the scheduler: Tune refuses them here as well
        tune_config=tune.TuneConfig(
            search_alg=search_alg, scheduler=scheduler, num_samples=num_samples, max_concurrent_trials=2
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), verbose=0),
    )
    results = tuner.fit()
    assert results.num_errors == 0, results.errors
    return results


def _asha_search(tmp_path: Path, searcher_cls: type[OptunaSearch]) -> tuple[tune.ResultGrid, optuna.Study]:
    """8 TPE trials of ``trainable`` under ASHA; the study persists in SQLite to be read back."""
    space = load_space(SPACE, tmp_path, "space")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = searcher_cls(
        metric="score",
        mode="max",
        sampler=make_sampler("tpe", 0, space),
        storage=optuna.storages.RDBStorage(url),
        study_name="asha",
    )
    scheduler = AshaConfig(grace_period=1, reduction_factor=2).build("score", "max", EPOCHS)
    results = _fit(tmp_path, searcher, scheduler, space.to_tune(), num_samples=8)
    return results, optuna.load_study(study_name="asha", storage=url)


def _by_x(study: optuna.Study) -> dict[float, optuna.trial.FrozenTrial]:
    trials = {t.params["x"]: t for t in study.trials}
    assert len(trials) == len(study.trials)
    return trials


def test_stopped_trials_are_pruned(ray_session: None, tmp_path: Path) -> None:
    results, study = _asha_search(tmp_path, PrunedAwareOptunaSearch)
    trials = _by_x(study)
    assert len(results) == len(trials) == 8
    stopped = finished = 0
    for r in results:
        ot = trials[r.config["x"]]
        if r.metrics.get(FINAL):
            finished += 1
            assert ot.state == optuna.trial.TrialState.COMPLETE
            assert ot.value == pytest.approx(r.metrics["score"])
            # the final report is not a point of the learning curve
            assert sorted(ot.intermediate_values) == list(range(1, EPOCHS + 1))
        else:
            stopped += 1
            assert ot.state == optuna.trial.TrialState.PRUNED, (r.config, r.metrics)
            assert sorted(ot.intermediate_values) == list(range(1, r.metrics["epoch"] + 1))
    assert stopped >= 1 and finished >= 1


def test_ray_optuna_search_records_stopped_trials_as_complete(ray_session: None, tmp_path: Path) -> None:
    """The upstream behaviour that PrunedAwareOptunaSearch corrects (if Ray fixes it, this fails)."""
    results, study = _asha_search(tmp_path, OptunaSearch)
    trials = _by_x(study)
    stopped = [trials[r.config["x"]] for r in results if not r.metrics.get(FINAL)]
    assert stopped
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in stopped)


def test_grid_searcher_runs_each_point_once(ray_session: None, tmp_path: Path) -> None:
    space = load_space(
        {"x": {"type": "grid", "values": [0.2, 0.5, 0.9]}, "y": {"type": "categorical", "choices": [0, 1]}},
        tmp_path,
        "space",
    )
    searcher = make_searcher(
        "grid", 0, space, "score", "max", storage=f"sqlite:///{tmp_path / 'g.db'}", study_name="grid"
    )
    results = _fit(tmp_path, searcher, FifoConfig().build("score", "max", EPOCHS), {}, space.grid_size())
    assert sorted((r.config["x"], r.config["y"]) for r in results) == [
        (x, y) for x in [0.2, 0.5, 0.9] for y in [0, 1]
    ]
    study = optuna.load_study(study_name="grid", storage=f"sqlite:///{tmp_path / 'g.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 6


# -- schedulers, without a cluster ------------------------------------------------------------------


@dataclass(frozen=True)
class _Trial:  # what the schedulers read of a Tune trial
    trial_id: str


def _feed(scheduler: TrialScheduler, reports: dict[str, list[tuple[int, float]]]) -> dict[str, list[str]]:
    """Results (epoch, score) per trial, trial after trial; the scheduler's decision for each."""
    trials = {tid: _Trial(tid) for tid in reports}
    for trial in trials.values():
        scheduler.on_trial_add(None, trial)
    return {
        tid: [scheduler.on_trial_result(None, trials[tid], {"epoch": e, "score": s}) for e, s in rs]
        for tid, rs in reports.items()
    }


# max_t = 4 = grace 1 * 2**2: ASHA has a rung at the last epoch; b drops below a's score there.
LAST_RUNG = {
    "a": [(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)],
    "b": [(1, 2.0), (2, 2.0), (3, 0.5), (4, 0.5), (4, 0.5)],
}


def test_asha_lets_a_trial_at_its_last_epoch_finish() -> None:
    plain = AsyncHyperBandScheduler(
        time_attr="epoch",
        metric="score",
        mode="max",
        max_t=4,
        grace_period=1,
        reduction_factor=2,
        stop_last_trials=False,
    )
    assert _feed(plain, LAST_RUNG)["b"][3] == TrialScheduler.STOP  # what the mixin prevents
    ours = AshaConfig(grace_period=1, reduction_factor=2).build("score", "max", max_t=4)
    assert _feed(ours, LAST_RUNG)["b"] == [TrialScheduler.CONTINUE] * 5


def test_asha_still_stops_early() -> None:
    ours = AshaConfig(grace_period=1, reduction_factor=2).build("score", "max", max_t=4)
    decisions = _feed(ours, {"a": [(1, 1.0)], "b": [(1, 0.1)]})
    assert decisions["b"] == [TrialScheduler.STOP]


def test_median_rule_never_stops_the_last_epoch() -> None:
    median = MedianConfig(grace_period=1, min_samples_required=1).build("score", "max", max_t=3)
    decisions = _feed(
        median, {"a": [(1, 1.0), (2, 1.0), (3, 1.0)], "b": [(1, 0.1)], "c": [(3, 0.1), (3, 0.1)]}
    )
    assert decisions["b"] == [TrialScheduler.STOP]
    assert decisions["c"] == [TrialScheduler.CONTINUE] * 2


def test_scheduler_configs() -> None:
    union = TypeAdapter(SCHEDULERS.union("name"))
    assert isinstance(union.validate_python({"name": "none"}), FifoConfig)
    asha = union.validate_python({"name": "asha", "grace_period": 2})
    assert isinstance(asha, AshaConfig) and asha.build("m", "min", 8)._max_t == 8
    with pytest.raises(ValueError, match="reduction_factor"):
        union.validate_python({"name": "asha", "reduction_factor": 1})
    with pytest.raises(ValueError, match="grace_period=5 must be <= max_t=3"):
        union.validate_python({"name": "asha", "grace_period": 5, "max_t": 3})
    with pytest.raises(ConfigError, match=r"grace_period=5: must be <= max_t=3"):
        AshaConfig(grace_period=5).build("m", "max", 3)
    with pytest.raises(ValueError, match="min_samples_required"):
        union.validate_python({"name": "median", "min_samples_required": 0})
