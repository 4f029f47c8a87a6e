"""The ``grid`` stage: named variants x datasets x seeds, e.g. the rows of the paper's Table 2, or the
seven one-factor-at-a-time rows of Table 10 read from a grid file (``search_spaces/loss_composite_table10.yaml``)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, RootModel, model_validator

from hartune.presets import expand_run
from hartune.tune.outcomes import Best, SpecView, TrialOutcome, TunePlan, final_value
from hartune.tune.stages.base import StageConfig, register_stage


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
    """Named variants x datasets x seeds (first row = the reference for deltas in reports).

    ``variants`` is a mapping, or a grid file holding one (relative to the working directory or the
    spec's folder). Uses Tune's own grid expansion (OptunaSearch refuses grid_search). The best variant
    has the best mean ``metric`` over its datasets and seeds.
    """

    kind: Literal["grid"] = "grid"
    variants: dict[str, dict[str, Any]] | str = Field(min_length=1)

    def overlays(self, spec: SpecView) -> dict[str, dict[str, Any]]:
        rows = spec.space(self.variants, Variants, "variants").root if isinstance(self.variants, str) else self.variants
        return {k: expand_run(dict(v), f"variants.{k}.") for k, v in rows.items()}  # presets before any start

    def trial_count(self, spec: SpecView) -> int:
        return len(self.overlays(spec)) * len(self.dataset_keys(spec)) * len(self.seed_list(spec))

    def tune_plan(self, spec: SpecView, storage: str | None, study_name: str) -> TunePlan:
        from ray import tune

        return TunePlan(
            param_space={
                "variant": tune.grid_search(list(self.overlays(spec))),
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
