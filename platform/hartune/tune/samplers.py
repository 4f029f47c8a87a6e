"""Optuna samplers by name, each built from a seed and the search space.

``make_sampler("tpe", seed=0, space=space)``; an unknown name lists the registered ones. Optuna is
imported by the builders, not here: a trial process loads this module with the spec (to unpickle its
stage context) but never builds a sampler.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from hartune.registry import ConfigError, Registry
from hartune.tune.space import SearchSpace

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler

SamplerBuilder = Callable[[int, SearchSpace], "BaseSampler"]
SAMPLERS: Registry[SamplerBuilder] = Registry("sampler")


def make_sampler(name: str, seed: int, space: SearchSpace) -> BaseSampler:
    return SAMPLERS.get(name)(seed, space)


@SAMPLERS.register("tpe")
def build_tpe(seed: int, space: SearchSpace) -> BaseSampler:
    """Tree-structured Parzen estimator. Optuna 5 defaults to ``multivariate=True`` (joint model of
    the parameters) and ``constant_liar=True`` (running trials count as bad, so parallel trials spread
    out); the first 10 trials are random."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed)


@SAMPLERS.register("random")
def build_random(seed: int, space: SearchSpace) -> BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


@SAMPLERS.register("cmaes")
def build_cmaes(seed: int, space: SearchSpace) -> BaseSampler:
    """CMA-ES over float/int params (needs the ``cmaes`` package); categorical params and
    one-parameter spaces fall back to random sampling, with an Optuna warning."""
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed)


@SAMPLERS.register("gp")
def build_gp(seed: int, space: SearchSpace) -> BaseSampler:
    """Gaussian-process Bayesian optimisation (torch + scipy); random for the first 10 trials."""
    import optuna

    return optuna.samplers.GPSampler(seed=seed)


@SAMPLERS.register("nsga2")
def build_nsga2(seed: int, space: SearchSpace) -> BaseSampler:
    """NSGA-II genetic algorithm, meant for multi-objective studies (population 50)."""
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed)


@SAMPLERS.register("qmc")
def build_qmc(seed: int, space: SearchSpace) -> BaseSampler:
    """Scrambled Sobol points: unscrambled Sobol ignores the seed, so every study would get the
    same points."""
    import optuna

    with warnings.catch_warnings():  # "QMCSampler is experimental": known, and noise in every trial log
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)


@SAMPLERS.register("grid")
def build_grid(seed: int, space: SearchSpace) -> BaseSampler:
    """Every combination of the grid/categorical values once, in a seeded random order."""
    import optuna

    if not space.is_grid():
        ranged = [name for name, p in space.params.items() if name not in space.grid()]
        raise ConfigError(
            f"sampler='grid': every parameter must be of type grid or categorical; {', '.join(ranged)} "
            "is a range (use another sampler or list its values)"
        )
    return optuna.samplers.GridSampler(space.grid(), seed=seed)
