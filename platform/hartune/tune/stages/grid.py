"""The ``grid`` stage: named variants x datasets x seeds (x folds, on a dataset with a fold axis), e.g. the
rows of the paper's Table 2, or the seven one-factor-at-a-time rows of Table 10 read from a grid file
(``search_spaces/loss_composite_table10.yaml``)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, RootModel, model_validator

from hartune.presets import expand_run
from hartune.tune.outcomes import FOLD, Best, GroupHook, SpecView, TrialOutcome, TunePlan, group_means
from hartune.tune.stages.base import StageConfig, register_stage

if TYPE_CHECKING:
    from hartune.tune.search import OptunaStore


class Variants(RootModel[dict[str, dict[str, Any]]]):
    """A grid file: variant name -> partial run config, in row order; keys starting with ``x-`` are
    ignored (a place for YAML anchors, as in a spec)."""

    root: dict[str, dict[str, Any]] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _extensions(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if not str(k).startswith("x-")} if isinstance(data, dict) else data


@register_stage
class GridStage(StageConfig):
    """Named variants x datasets x seeds (first row = the reference for deltas in reports), and on a
    dataset with a fold axis x its folds: one trial per fold.

    ``variants`` is a mapping, or a grid file holding one (relative to the working directory or the
    spec's folder). The trials are an explicit list (``hartune.tune.cv.CellSearcher``: each dataset may
    have its own folds), a group's folds one after another. The best variant has the best mean
    ``metric`` over its datasets, seeds and folds; on a fold axis only groups whose every fold finished
    count.
    """

    kind: Literal["grid"] = "grid"
    variants: dict[str, dict[str, Any]] | str = Field(min_length=1)
    fold_axis: bool = Field(True, description="train each fold of a dataset's fold axis (false: the refit)")

    def overlays(self, spec: SpecView) -> dict[str, dict[str, Any]]:
        rows = spec.space(self.variants, Variants, "variants").root if isinstance(self.variants, str) else self.variants
        return {k: expand_run(dict(v), f"variants.{k}.") for k, v in rows.items()}  # presets before any start

    def trial_count(self, spec: SpecView) -> int:
        folds = sum(self.fold_count(spec, d) if self.fold_axis else 1 for d in self.dataset_keys(spec))
        return len(self.overlays(spec)) * folds * len(self.seed_list(spec))

    def cells(self, spec: SpecView) -> list[dict[str, Any]]:
        """Every trial's Tune config, a group's folds one after another."""
        return [
            {"variant": v, "dataset": d, "seed": s, **({FOLD: f} if f is not None else {})}
            for v in self.overlays(spec) for d in self.dataset_keys(spec) for s in self.seed_list(spec)
            for f in ((spec.folds(d) if self.fold_axis else None) or [None])
        ]

    def tune_plan(
        self, spec: SpecView, storage: str | OptunaStore | None, study_name: str, on_group: GroupHook | None = None
    ) -> TunePlan:
        from hartune.tune.cv import CellSearcher

        cells = self.cells(spec)
        return TunePlan(param_space={}, num_samples=len(cells), search_alg=CellSearcher(cells, on_group))

    def best(self, outcomes: list[TrialOutcome], overlays: Mapping[str, dict[str, Any]]) -> Best | None:
        by_variant: dict[str, list[float]] = {}
        ids: dict[str, list[str]] = {}
        for group in group_means(outcomes, self.primary_metric):
            by_variant.setdefault(group.config["variant"], []).append(group.value)
            ids.setdefault(group.config["variant"], []).extend(group.trial_ids)
        best: Best | None = None
        for variant, values in by_variant.items():
            mean = statistics.fmean(values)
            if best is None or self.better(mean, best.value):
                best = Best(dict(overlays[variant]), variant, mean, ids[variant])
        return best
