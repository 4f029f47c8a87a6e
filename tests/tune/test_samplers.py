"""Every registered sampler builds from a seed and a space and runs a plain Optuna study."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from hartune.registry import ConfigError, UnknownNameError
from hartune.tune.samplers import SAMPLERS, make_sampler
from hartune.tune.space import SearchSpace, load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

MIXED = {
    "train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "model.dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "loss.gamma": {"type": "int", "low": 1, "high": 5},
    "train.batch_size": {"type": "categorical", "choices": [32, 64, 128]},
}
GRID = {
    "loss.epsilon": {"type": "grid", "values": [0.0, 0.1, 0.2]},
    "train.batch_size": {"type": "categorical", "choices": [32, 64]},
}


def _space(sampler: str) -> SearchSpace:
    return load_space(GRID if sampler == "grid" else MIXED, Path("."), "space")


def _suggest(trial: optuna.Trial, name: str, dist: optuna.distributions.BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)


def _run(sampler_name: str, seed: int, n_trials: int = 6) -> list[dict[str, Any]]:
    space = _space(sampler_name)
    dists = space.to_optuna()

    def objective(trial: optuna.Trial) -> float:
        p = {name: _suggest(trial, name, d) for name, d in dists.items()}
        return sum(math.log(v) if isinstance(v, float) and v > 0 else float(v) for v in p.values())

    study = optuna.create_study(sampler=make_sampler(sampler_name, seed, space), direction="maximize")
    study.optimize(objective, n_trials=n_trials)
    return [t.params for t in study.trials]


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_sampler_runs_and_is_seeded(name: str) -> None:
    first = _run(name, seed=3)
    assert len(first) == 6
    space = _space(name)
    for point in first:
        assert set(point) == set(space.params)
        for key, value in point.items():
            assert space.to_optuna()[key]._contains(space.to_optuna()[key].to_internal_repr(value))
    assert _run(name, seed=3) == first  # same seed -> same points


@pytest.mark.parametrize("name", ["tpe", "random", "qmc", "cmaes"])
def test_other_seed_other_points(name: str) -> None:
    assert _run(name, seed=0, n_trials=3) != _run(name, seed=1, n_trials=3)


def test_grid_enumerates_every_point_once() -> None:
    points = _run("grid", seed=0, n_trials=10)  # the study stops itself after the 6 points
    assert len(points) == 6
    assert sorted((p["loss.epsilon"], p["train.batch_size"]) for p in points) == sorted(
        (e, b) for e in [0.0, 0.1, 0.2] for b in [32, 64]
    )


def test_grid_needs_a_grid_space() -> None:
    with pytest.raises(
        ConfigError, match=r"^sampler='grid': .*train.lr, model.dropout, loss.gamma is a range"
    ):
        make_sampler("grid", 0, _space("tpe"))


def test_unknown_sampler_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as e:
        make_sampler("tpee", 0, _space("tpe"))
    assert str(e.value) == f"unknown sampler 'tpee'; valid: {', '.join(SAMPLERS.names())}"
    assert {"tpe", "random", "cmaes", "gp", "nsga2", "qmc", "grid"} <= set(SAMPLERS.names())
