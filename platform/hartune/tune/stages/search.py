"""The ``search`` stage: an Optuna sampler over a search space, with an optional early-stopping
scheduler, on one dataset and seed. A list of metrics makes it multi-objective (e.g. NSGA-II over
accuracy and latency); it then also logs its Pareto front.

On a dataset with a fold axis, each sampled point (one Optuna trial) is trained on every fold (one Tune
trial each); Optuna and the scheduler see the mean over the point's folds (``hartune.tune.cv``), and the
best configuration is the point with the best fold mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from hartune.overlays import deep_merge, unflatten
from hartune.presets import expand_run
from hartune.tune.outcomes import (
    TUNE_KEYS,
    Best,
    GroupHook,
    SpecView,
    StageDriver,
    TrialOutcome,
    TunePlan,
    group_means,
)
from hartune.tune.space import SearchSpace
from hartune.tune.stages.base import METRIC_NAME, SamplingStage, register_stage

if TYPE_CHECKING:
    from hartune.tune.search import OptunaStore


@register_stage
class SearchStage(SamplingStage):
    """An Optuna sampler searching ``space`` (a ``search_spaces/*.yaml`` file or an inline mapping)
    over one dataset and seed, with an optional early-stopping scheduler."""

    artifacts: ClassVar[dict[str, str]] = {
        "pareto.csv": "multi-objective only: every finished trial's objectives, front first",
        "pareto.png": "multi-objective only: the Pareto front of the first two objectives",
    }

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

    def load(self, spec: SpecView) -> SearchSpace:
        return spec.space(self.space, SearchSpace)

    def overlays(self, spec: SpecView) -> dict[str, dict[str, Any]]:
        return {"base": expand_run(dict(self.base), "base.")}  # a run preset, before any start merges in

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

    def describe(self, spec: SpecView) -> list[str]:
        space = self.space if isinstance(self.space, str) else ", ".join(self.space)
        d = self.dataset_keys(spec)[0]
        return [(f"sampler {self.sampler} (seed {self.sampler_seed}); space: {space}; "
                 f"scheduler: {self.scheduler.name if self.scheduler else 'none'}"
                 f"{f' ({self.scheduler.fold_rule} on the folds)' if spec.folds(d) and self.scheduler else ''}; "
                 f"dataset {self.datasets_text(spec, [d])}, seed {self.seed_list(spec)[0]}"
                 f"{'; each point on every fold' if spec.folds(d) else ''}")]

    def sampled_points(self, spec: SpecView) -> list[tuple[str, dict[str, Any]]]:
        return [(f"space.{label}", point) for label, point in self.load(spec).labelled_corners()]

    def samples(self, spec: SpecView) -> int:
        if self.num_samples is not None:
            return self.num_samples
        space = self.load(spec)
        return space.grid_size() if self.sampler == "grid" and space.is_grid() else 10

    def trial_count(self, spec: SpecView) -> int:
        # one dataset and one seed, the first of each; on a fold axis each point once per fold
        return self.samples(spec) * self.fold_count(spec, self.dataset_keys(spec)[0])

    def tune_plan(
        self, spec: SpecView, storage: str | OptunaStore | None, study_name: str, on_group: GroupHook | None = None
    ) -> TunePlan:
        from hartune.tune.cv import FoldScheduler, FoldSearcher
        from hartune.tune.search import make_searcher

        space = self.load(spec)
        dataset = self.dataset_keys(spec)[0]
        max_t = spec.run_config(dataset, self.base, 0, "").train.epochs
        searcher = make_searcher(
            self.sampler, self.sampler_seed, space, metric=self.metric, mode=self.mode,
            storage=storage, study_name=study_name,
        )
        scheduler = self.scheduler.build(self.primary_metric, self.primary_mode, max_t) if self.scheduler else None
        folds = spec.folds(dataset)
        constants = {"variant": "base", "dataset": dataset, "seed": self.seed_list(spec)[0]}
        if folds is not None:  # each point on every fold; Optuna and the scheduler see fold means
            searcher = FoldSearcher(searcher, folds, on_group, points=self.samples(spec), constants=constants)
            if scheduler is not None:
                scheduler = FoldScheduler(scheduler, self.primary_metric, {dataset: len(folds)}, last_epoch=max_t,
                                          rule=self.scheduler.fold_rule)
        sampled = {} if self.sampler == "grid" else space.to_tune()
        return TunePlan(
            param_space={**constants, **sampled},
            num_samples=self.trial_count(spec),
            search_alg=searcher,
            scheduler=scheduler,
            judged_epochs=self.scheduler.judged_epochs(max_t) if self.scheduler else frozenset(),
        )

    def best(self, outcomes: list[TrialOutcome], overlays: Mapping[str, dict[str, Any]]) -> Best | None:
        """The point with the best value (its fold mean on a fold axis; points with a stopped or failed
        fold have none)."""
        best: Best | None = None
        for group in group_means(outcomes, self.primary_metric):
            if best is not None and not self.better(group.value, best.value):
                continue
            point = {k: v for k, v in group.config.items() if k not in TUNE_KEYS}
            label = ", ".join(f"{k}={val:.4g}" if isinstance(val, float) else f"{k}={val}" for k, val in point.items())
            best = Best(deep_merge(overlays["base"], unflatten(point)), label, group.value, group.trial_ids)
        return best
