"""The ``grid`` stage: named variants x datasets x seeds, e.g. the rows of the paper's Table 2."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from hartune.tune.outcomes import Best, SpecView, TrialOutcome, TunePlan, final_value
from hartune.tune.stages.base import StageConfig, register_stage


@register_stage
class GridStage(StageConfig):
    """Named variants x datasets x seeds (first row = the reference for deltas in reports).

    Uses Tune's own grid expansion (OptunaSearch refuses grid_search). The best variant has the best
    mean ``metric`` over its datasets and seeds.
    """

    kind: Literal["grid"] = "grid"
    variants: dict[str, dict[str, Any]] = Field(min_length=1)

    def overlays(self, spec: SpecView) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.variants.items()}

    def trial_count(self, spec: SpecView) -> int:
        return len(self.variants) * len(self.dataset_keys(spec)) * len(self.seed_list(spec))

    def tune_plan(self, spec: SpecView, storage: str | None, study_name: str) -> TunePlan:
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
