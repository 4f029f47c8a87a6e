"""The base of every stage kind, and the registry of kinds.

Adding a kind = one ``StageConfig`` subclass in a file of its own, with ``kind: Literal[...]``, decorated
``@register_stage``, implementing ``overlays`` (named partial run configs), ``tune_plan`` and ``best``:
one Tune experiment. A stage made of several experiments (one per loss family, one per round) overrides
``execute``, which asks the runner's ``StageDriver`` to run sub-stages. A kind sees the spec only
through ``SpecView`` and declares the artifacts it logs to its stage run in ``artifacts``.

A trial's Tune config is ``{variant, dataset, seed, **sampled}``: small, readable in Tune's table and
flattened into MLflow params; the trainable resolves it back into a full ``RunConfig``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hartune.overlays import deep_merge, unflatten, unique
from hartune.registry import ConfigError, Registry
from hartune.tune.outcomes import Best, GroupHook, SpecView, StageDriver, TrialOutcome, TunePlan
from hartune.tune.samplers import SAMPLERS
from hartune.tune.schedulers import SCHEDULERS

if TYPE_CHECKING:
    from hartune.train import RunConfig
    from hartune.tune.search import OptunaStore

# Searchers and schedulers see every epoch's report, so a stage's metric must be in each of them:
# validation or training metrics, the model size or its batch-1 CPU latency (test metrics exist only
# at the end, by design).
METRIC_PATTERN = r"^((val|train)_[a-z0-9_]+|num_parameters|latency_ms)$"
METRIC_NAME = re.compile(METRIC_PATTERN)


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # What the stage logs to its own MLflow run besides its trials (file name -> what it holds);
    # ``{family}`` stands for any name. The runner records what was logged; reports read that record.
    artifacts: ClassVar[dict[str, str]] = {}

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str
    from_stage: str | None = Field(None, description="start from the best configuration of this stage")
    datasets: list[str] | None = Field(None, description="dataset keys; default: every dataset")
    seeds: list[int] | None = Field(None, description="default: the spec's seeds")
    metric: str = Field("val_f1_macro", pattern=METRIC_PATTERN)
    mode: Literal["max", "min"] = "max"
    # scikit-learn's GridSearchCV(refit=True): after the cross-validation, the best configuration is
    # trained once more on every subject of the stage's first dataset, and that model is logged (and
    # promoted). Its epochs: the median (or mean, max) of the best epochs of its folds, or the full budget.
    refit: bool = Field(False, description="train the best configuration once on every subject (needs folds)")
    refit_epochs: Literal["median", "mean", "max", "budget"] = "median"

    def planned_trials(self, spec: SpecView) -> int:
        """The stage's trials, the refit's included."""
        return self.trial_count(spec) + (1 if self.refit else 0)

    def check_refit(self, spec: SpecView, index: int) -> None:
        """A refit follows a cross-validation: the stage's first dataset needs a fold axis."""
        d = self.dataset_keys(spec)[0]
        if self.refit and spec.folds(d) is None:
            raise ConfigError(f"stages[{index}].refit=True: dataset {d!r} has no fold axis to select on; give its "
                              "split folds: all (loso or kfold), or drop refit")

    def dataset_keys(self, spec: SpecView) -> list[str]:
        return list(self.datasets or spec.datasets)

    def seed_list(self, spec: SpecView) -> list[int]:
        return list(self.seeds or spec.seeds)

    # -- to implement ----------------------------------------------------------------------------
    def overlays(self, spec: SpecView) -> dict[str, dict[str, Any]]:
        """Variant name -> partial run config (merged over the from_stage best, if any)."""
        raise NotImplementedError

    def sampled_points(self, spec: SpecView) -> list[tuple[str, dict[str, Any]]]:
        """(label, flat params) points that bound what the stage can sample; validated up front."""
        return [("", {})]

    def trial_count(self, spec: SpecView) -> int:
        raise NotImplementedError

    def tune_plan(
        self, spec: SpecView, storage: str | OptunaStore | None, study_name: str, on_group: GroupHook | None = None
    ) -> TunePlan:
        """The Tune experiment; a searcher keeps its Optuna study ``study_name`` in ``storage``. On a
        fold axis, ``on_group`` is called on the driver with the first trial config of each group (the
        folds of one configuration) before that trial exists."""
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

    def describe(self, spec: SpecView) -> list[str]:
        """Lines of the dry-run plan under the stage's heading."""
        where = f"datasets {self.datasets_text(spec)}; seeds {self.seed_list(spec)}"
        return [f"{variant}: {where}" for variant in self.overlays(spec)]

    def datasets_text(self, spec: SpecView, keys: list[str] | None = None) -> str:
        """``watch (5 folds: 0-4), pamap2``: the datasets and their fold axes, for the plan."""
        out = []
        for d in keys or self.dataset_keys(spec):
            folds = spec.folds(d)
            out.append(d if folds is None else f"{d} ({len(folds)} folds: {fold_text(folds)})")
        return ", ".join(out)

    def fold_count(self, spec: SpecView, dataset: str) -> int:
        """Trials per configuration on ``dataset``: its fold count, 1 without a fold axis."""
        return len(spec.folds(dataset) or [None])

    def start_candidates(self, spec: SpecView) -> list[dict[str, Any]]:
        """Every start this stage can get: the possible bests of its from_stage."""
        if self.from_stage is None:
            return [{}]
        return spec.stage(self.from_stage).best_candidates(spec)

    def best_candidates(self, spec: SpecView) -> list[dict[str, Any]]:
        """Partial run configs this stage's best can be (what a later stage may start from)."""
        points = self.sampled_points(spec)
        return unique([
            deep_merge(deep_merge(start, overlay), unflatten(point))
            for start in self.start_candidates(spec)
            for overlay in self.overlays(spec).values()
            for _, point in points
        ])

    def candidate_runs(self, spec: SpecView, index: int) -> list[tuple[str, RunConfig]]:
        """Every run config this stage could produce, validated; errors name the stage key path."""
        try:
            points, overlays = self.sampled_points(spec), self.overlays(spec)
        except ConfigError as e:
            raise ConfigError(f"stages[{index}].{e}") from None
        runs = []
        for variant, overlay in overlays.items():
            for label, point in points:
                for base in self.start_candidates(spec):
                    for d in self.dataset_keys(spec):
                        merged = deep_merge(deep_merge(base, overlay), unflatten(point))
                        runs.append((d, self._validated(spec, d, merged, index, variant, label)))
        return runs

    def _validated(
        self, spec: SpecView, dataset: str, merged: dict[str, Any], index: int, variant: str, label: str
    ) -> RunConfig:
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


def refit_epochs(rule: str, best_epochs: list[int], budget: int) -> int:
    """The refit's epoch count from its folds' best epochs: their median (rounded half up), mean
    (rounded), or max; ``budget`` (the configured epochs) with ``budget`` or no fold epoch to go by."""
    import math
    import statistics

    if rule == "budget" or not best_epochs:
        return budget
    value = {"median": statistics.median, "mean": statistics.fmean, "max": max}[rule](best_epochs)
    return max(1, math.floor(value + 0.5))


def fold_text(folds: list[int]) -> str:
    """``0-4`` for a run of folds, else ``0, 2, 3``."""
    if folds == list(range(folds[0], folds[0] + len(folds))) and len(folds) > 2:
        return f"{folds[0]}-{folds[-1]}"
    return ", ".join(map(str, folds))


STAGES: Registry[type[StageConfig]] = Registry("stage kind")


register_stage = STAGES.register_config("kind")


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
