"""Stage kinds, registered by name. A stage turns the spec into Ray Tune trials and picks its best.

Adding a kind = one ``StageConfig`` subclass with ``kind: Literal[...]`` decorated ``@register_stage``,
implementing ``overlays`` (named partial run configs), ``tune_plan`` and ``best``: one Tune experiment.
A stage made of several experiments (one per loss family, one per round) overrides ``execute``, which
asks the runner's ``StageDriver`` to run sub-stages; the runner owns every Ray and MLflow call.
A trial's Tune config is ``{variant, dataset, seed, **sampled}``: small, readable in Tune's table and
flattened into MLflow params; the trainable resolves it back into a full ``RunConfig``.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hartune.registry import Registry
from hartune.tune.samplers import SAMPLERS
from hartune.tune.schedulers import SCHEDULERS
from hartune.tune.space import SearchSpace, load_space

if TYPE_CHECKING:
    from hartune.spec import Spec
    from hartune.train import RunConfig


@dataclass(frozen=True)
class TrialOutcome:
    """What a finished stage knows of one trial (from Tune's last result)."""

    trial_id: str
    config: dict[str, Any]  # the Tune config: variant, dataset, seed, sampled params
    metrics: dict[str, Any]  # last reported result
    status: Literal["finished", "stopped", "failed"]
    error: str | None = None


@dataclass(frozen=True)
class Best:
    overlay: dict[str, Any]  # partial run config that reproduces the best configuration
    label: str  # variant name or sampled point, for humans
    value: float
    trial_ids: list[str] = field(default_factory=list)


@dataclass
class TunePlan:
    param_space: dict[str, Any]
    num_samples: int = 1
    search_alg: Any = None
    scheduler: Any = None


class StageDriver(Protocol):
    """What a stage may ask of the runner, which owns Ray Tune and MLflow."""

    base_dir: Path  # the spec's folder (relative search-space paths)

    def tune(
        self, stage: StageConfig, start: Mapping[str, Any], step: str | None = None
    ) -> tuple[Best | None, list[TrialOutcome]]:
        """Run ``stage`` as one Tune experiment from the partial run config ``start``. With ``step``, its
        trials sit under a child run of the stage run named ``step`` (a round, a loss family)."""
        ...

    def log_table(self, rows: list[dict[str, Any]], artifact_file: str) -> None:
        """A table artifact (``.csv``) of the stage run."""
        ...

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """A matplotlib figure (``.png``) of the stage run."""
        ...


TUNE_KEYS = ("variant", "dataset", "seed")  # a trial's Tune config besides its sampled point


# Searchers and schedulers see every epoch's report, so a stage's metric must be in each of them:
# validation or training metrics, the model size or its batch-1 CPU latency (test metrics exist only
# at the end, by design).
METRIC_PATTERN = r"^((val|train)_[a-z0-9_]+|num_parameters|latency_ms)$"
METRIC_NAME = re.compile(METRIC_PATTERN)


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str
    from_stage: str | None = Field(None, description="start from the best configuration of this stage")
    datasets: list[str] | None = Field(None, description="dataset keys; default: every dataset")
    seeds: list[int] | None = Field(None, description="default: the spec's seeds")
    metric: str = Field("val_f1_macro", pattern=METRIC_PATTERN)
    mode: Literal["max", "min"] = "max"

    def dataset_keys(self, spec: Spec) -> list[str]:
        return list(self.datasets or spec.datasets)

    def seed_list(self, spec: Spec) -> list[int]:
        return list(self.seeds or spec.seeds)

    # -- to implement ----------------------------------------------------------------------------
    def overlays(self, base_dir: Path) -> dict[str, dict[str, Any]]:
        """Variant name -> partial run config (merged over the from_stage best, if any)."""
        raise NotImplementedError

    def sampled_points(self, base_dir: Path) -> list[tuple[str, dict[str, Any]]]:
        """(label, flat params) points that bound what the stage can sample; validated up front."""
        return [("", {})]

    def trial_count(self, spec: Spec, base_dir: Path) -> int:
        raise NotImplementedError

    def tune_plan(self, spec: Spec, base_dir: Path, storage: str | None, study_name: str) -> TunePlan:
        """The Tune experiment; a searcher keeps its Optuna study ``study_name`` in ``storage``."""
        raise NotImplementedError

    def best(self, outcomes: list[TrialOutcome], overlays: Mapping[str, dict[str, Any]]) -> Best | None:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------
    @property
    def primary_metric(self) -> str:
        """The metric that ranks trials (the first one of a multi-objective search)."""
        return self.metric if isinstance(self.metric, str) else self.metric[0]

    @property
    def primary_mode(self) -> str:
        return self.mode if isinstance(self.mode, str) else self.mode[0]

    def better(self, a: float, b: float) -> bool:
        return a > b if self.primary_mode == "max" else a < b

    def execute(self, driver: StageDriver, start: Mapping[str, Any]) -> Best | None:
        """Run the stage from ``start`` (the from_stage best, or empty); returns its best."""
        return driver.tune(self, start)[0]

    def describe(self, spec: Spec, base_dir: Path) -> list[str]:
        """Lines of the dry-run plan under the stage's heading."""
        where = f"datasets {', '.join(self.dataset_keys(spec))}; seeds {self.seed_list(spec)}"
        return [f"{variant}: {where}" for variant in self.overlays(base_dir)]

    def start_candidates(self, spec: Spec, base_dir: Path) -> list[dict[str, Any]]:
        """Every start this stage can get: the possible bests of its from_stage."""
        if self.from_stage is None:
            return [{}]
        return spec.stage(self.from_stage).best_candidates(spec, base_dir)

    def best_candidates(self, spec: Spec, base_dir: Path) -> list[dict[str, Any]]:
        """Partial run configs this stage's best can be (what a later stage may start from)."""
        from hartune.spec import deep_merge, unflatten

        points = self.sampled_points(base_dir)
        return unique([
            deep_merge(deep_merge(start, overlay), unflatten(point))
            for start in self.start_candidates(spec, base_dir)
            for overlay in self.overlays(base_dir).values()
            for _, point in points
        ])

    def candidate_runs(self, spec: Spec, index: int, base_dir: Path) -> list[tuple[str, RunConfig]]:
        """Every run config this stage could produce, validated; errors name the stage key path."""
        from hartune.registry import ConfigError
        from hartune.spec import deep_merge, unflatten

        try:
            points = self.sampled_points(base_dir)
        except ConfigError as e:
            raise ConfigError(f"stages[{index}].{e}") from None
        runs = []
        for variant, overlay in self.overlays(base_dir).items():
            for label, point in points:
                for base in self.start_candidates(spec, base_dir):
                    for d in self.dataset_keys(spec):
                        merged = deep_merge(deep_merge(base, overlay), unflatten(point))
                        runs.append((d, self._validated(spec, d, merged, index, variant, label, point)))
        return runs

    def _validated(
        self, spec: Spec, dataset: str, merged: dict[str, Any], index: int, variant: str, label: str,
        point: dict[str, Any],
    ) -> RunConfig:
        from hartune.registry import ConfigError

        try:
            return spec.run_config(dataset, merged, self.seed_list(spec)[0], "")
        except ConfigError as e:
            msg = str(e).removeprefix(": ")
            name = label.removeprefix("space.").rsplit(".", 1)[0] if label else ""
            if name and msg.startswith(f"{name}="):  # the sampled value itself is impossible
                raise ConfigError(f"stages[{index}].{label}={msg[len(name) + 1:]}") from None
            raise ConfigError(f"stages[{index}].{self.where(variant)}: {msg}") from None

    def where(self, variant: str) -> str:
        return f"variants.{variant}"


STAGES: Registry[type[StageConfig]] = Registry("stage kind")


register_stage = STAGES.register_config("kind")


def unique(overlays: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import json

    seen: dict[str, dict[str, Any]] = {}
    for o in overlays:
        seen.setdefault(json.dumps(o, sort_keys=True, default=str), o)
    return list(seen.values())


def space_dir(source: str | Mapping[str, Any], base_dir: Path) -> Path:
    """Where a search-space file path is read from: the working directory if it is there, else the
    spec's folder. An inline mapping needs no folder."""
    if isinstance(source, str) and (Path.cwd() / source).exists():
        return Path.cwd()
    return base_dir


def final_value(o: TrialOutcome, metric: str) -> float | None:
    v = o.metrics.get(metric) if o.status == "finished" else None
    return float(v) if isinstance(v, (int, float)) else None


@register_stage
class GridStage(StageConfig):
    """Named variants x datasets x seeds, e.g. the rows of the paper's Table 2 (first row = reference).

    Uses Tune's own grid expansion (OptunaSearch refuses grid_search). The best variant has the best
    mean ``metric`` over its datasets and seeds.
    """

    kind: Literal["grid"] = "grid"
    variants: dict[str, dict[str, Any]] = Field(min_length=1)

    def overlays(self, base_dir: Path) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.variants.items()}

    def trial_count(self, spec: Spec, base_dir: Path) -> int:
        return len(self.variants) * len(self.dataset_keys(spec)) * len(self.seed_list(spec))

    def tune_plan(self, spec: Spec, base_dir: Path, storage: str | None, study_name: str) -> TunePlan:
        from ray import tune

        return TunePlan(
            param_space={
                "variant": tune.grid_search(list(self.variants)),
                "dataset": tune.grid_search(self.dataset_keys(spec)),
                "seed": tune.grid_search(self.seed_list(spec)),
            }
        )

    def best(self, outcomes: list[TrialOutcome], overlays: Mapping[str, dict[str, Any]]) -> Best | None:
        by_variant: dict[str, list[float]] = {}
        ids: dict[str, list[str]] = {}
        for o in outcomes:
            v = final_value(o, self.primary_metric)
            if v is not None:
                by_variant.setdefault(o.config["variant"], []).append(v)
                ids.setdefault(o.config["variant"], []).append(o.trial_id)
        best: Best | None = None
        for variant, values in by_variant.items():
            mean = statistics.fmean(values)
            if best is None or self.better(mean, best.value):
                best = Best(dict(overlays[variant]), variant, mean, ids[variant])
        return best


class SamplingStage(StageConfig):
    """The knobs of every stage that searches with an Optuna sampler: which sampler, its seed, and an
    optional early-stopping scheduler."""

    sampler: str = "tpe"
    sampler_seed: int = 0
    scheduler: SCHEDULERS.union("name") | None = None  # type: ignore[valid-type]

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, v: str) -> str:
        if v not in SAMPLERS:
            raise ValueError(f"unknown sampler {v!r}; valid: {', '.join(SAMPLERS.names())}")
        return v


@register_stage
class SearchStage(SamplingStage):
    """An Optuna sampler searching ``space`` (a ``search_spaces/*.yaml`` file or an inline mapping)
    over one dataset and seed, with an optional early-stopping scheduler."""

    kind: Literal["search"] = "search"
    # A list of metrics (with a list of modes) makes the search multi-objective, e.g. nsga2 over
    # [val_f1_macro, num_parameters] / [max, min]; the first one ranks the "best" configuration.
    metric: str | list[str] = Field("val_f1_macro")
    mode: Literal["max", "min"] | list[Literal["max", "min"]] = "max"
    space: str | dict[str, Any]
    num_samples: int | None = Field(None, ge=1, description="default: the grid size for sampler 'grid'")
    base: dict[str, Any] = Field(default_factory=dict, description="partial run config to search around")

    @model_validator(mode="after")
    def _objectives(self) -> SearchStage:
        metrics = [self.metric] if isinstance(self.metric, str) else self.metric
        modes = [self.mode] if isinstance(self.mode, str) else self.mode
        if len(metrics) != len(modes):
            raise ValueError(f"metric has {len(metrics)} entries but mode has {len(modes)}; give one mode per metric")
        for m in metrics:
            if not METRIC_NAME.match(m):
                raise ValueError(f"metric {m!r}: accepted: val_*, train_*, num_parameters or latency_ms")
        if len(metrics) > 1 and self.scheduler is not None:
            raise ValueError("a multi-objective search cannot use an early-stopping scheduler; use scheduler: none")
        return self

    def load(self, base_dir: Path) -> SearchSpace:
        return load_space(self.space, space_dir(self.space, base_dir), prefix="space")

    def overlays(self, base_dir: Path) -> dict[str, dict[str, Any]]:
        return {"base": dict(self.base)}

    def where(self, variant: str) -> str:
        return "base"

    def execute(self, driver: StageDriver, start: Mapping[str, Any]) -> Best | None:
        """One Tune experiment; a multi-objective search also logs its Pareto front (table + PNG)."""
        best, outcomes = driver.tune(self, start)
        if not isinstance(self.metric, str):
            from hartune.tracking.plots import pareto_figure
            from hartune.tune.pareto import pareto_rows

            rows = pareto_rows(outcomes, self.metric, self.mode)
            driver.log_table(rows, "pareto.csv")
            if rows:
                driver.log_figure(pareto_figure(rows, self.metric[1], self.metric[0]), "pareto.png")
        return best

    def describe(self, spec: Spec, base_dir: Path) -> list[str]:
        space = self.space if isinstance(self.space, str) else ", ".join(self.space)
        return [(f"sampler {self.sampler} (seed {self.sampler_seed}); space: {space}; "
                 f"scheduler: {self.scheduler.name if self.scheduler else 'none'}; "
                 f"dataset {self.dataset_keys(spec)[0]}, seed {self.seed_list(spec)[0]}")]

    def sampled_points(self, base_dir: Path) -> list[tuple[str, dict[str, Any]]]:
        return corners(self.load(base_dir))

    def samples(self, base_dir: Path) -> int:
        if self.num_samples is not None:
            return self.num_samples
        space = self.load(base_dir)
        return space.grid_size() if self.sampler == "grid" and space.is_grid() else 10

    def trial_count(self, spec: Spec, base_dir: Path) -> int:
        return self.samples(base_dir)  # one dataset and one seed: the first of each

    def tune_plan(self, spec: Spec, base_dir: Path, storage: str | None, study_name: str) -> TunePlan:
        from hartune.tune.search import make_searcher

        space = self.load(base_dir)
        max_t = max(spec.run_config(d, self.base, 0, "").train.epochs for d in self.dataset_keys(spec)[:1])
        searcher = make_searcher(
            self.sampler, self.sampler_seed, space, metric=self.metric, mode=self.mode,
            storage=storage, study_name=study_name,
        )
        constants = {"variant": "base", "dataset": self.dataset_keys(spec)[0], "seed": self.seed_list(spec)[0]}
        sampled = {} if self.sampler == "grid" else space.to_tune()
        return TunePlan(
            param_space={**constants, **sampled},
            num_samples=self.samples(base_dir),
            search_alg=searcher,
            scheduler=self.scheduler.build(self.primary_metric, self.primary_mode, max_t) if self.scheduler else None,
        )

    def best(self, outcomes: list[TrialOutcome], overlays: Mapping[str, dict[str, Any]]) -> Best | None:
        from hartune.spec import deep_merge, unflatten

        best: Best | None = None
        for o in outcomes:
            v = final_value(o, self.primary_metric)
            if v is None or (best is not None and not self.better(v, best.value)):
                continue
            point = {k: val for k, val in o.config.items() if k not in TUNE_KEYS}
            label = ", ".join(f"{k}={val:.4g}" if isinstance(val, float) else f"{k}={val}" for k, val in point.items())
            best = Best(deep_merge(overlays["base"], unflatten(point)), label, v, [o.trial_id])
        return best


def corners(space: SearchSpace) -> list[tuple[str, dict[str, Any]]]:
    """Each parameter at each bound or choice (others at their first), labelled by its key path."""
    labelled = {name: _labels(p) for name, p in space.params.items()}
    first = {name: p.bounds()[0] for name, p in space.params.items()}
    return [
        (f"space.{name}.{label}", {**first, name: value})
        for name, p in space.params.items()
        for label, value in zip(labelled[name], p.bounds())
    ]


def _labels(p: Any) -> list[str]:
    if hasattr(p, "low"):
        return ["low", "high"]
    key = "choices" if hasattr(p, "choices") else "values"
    return [f"{key}[{i}]" for i in range(len(p.bounds()))]

