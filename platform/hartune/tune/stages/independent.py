"""The ``independent`` stage (USAD Appendix C.1, Tables 8-9): each loss family (label smoothing, focal,
class-balanced...) searched alone, as the only loss, by ``grid`` (the paper's tables) or by any Optuna
``sampler`` over ranges. Its best is the composite whose terms are the families at their optima
(class-balanced CE is CE at β = 0, so the paper's CE + focal + label smoothing becomes class-balanced
+ focal + label smoothing). Each family is one Tune experiment under a child (step) run of the stage.

A family picks its optimum by its own ``metric``/``mode`` when its space gives them (the paper picks the
smoothing ε by ECE: "it minimizes the expected calibration error while maintaining performance"), else
by the stage's. The stage's value is the mean, over the families, of the stage's metric at their optima.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from hartune.overlays import deep_merge, unique
from hartune.registry import ConfigError
from hartune.tune.outcomes import Best, SpecView, StageDriver, outcome_rows, point_label
from hartune.tune.stages.base import StageConfig, register_stage
from hartune.tune.stages.grid import GridStage
from hartune.tune.stages.loss_space import FamilySpace, LossSearchStage, prefixed
from hartune.tune.stages.search import SearchStage

if TYPE_CHECKING:
    from hartune.train import RunConfig


@register_stage
class IndependentStage(LossSearchStage):
    """Appendix C.1: every family alone; the best is the composite of the families' optima."""

    artifacts: ClassVar[dict[str, str]] = {
        "independent.csv": "each family's best point and its mean metrics",
        "{family}.csv": "every point of one family with its mean metrics",
    }

    kind: Literal["independent"] = "independent"
    search: Literal["grid", "sampler"] = "grid"
    num_samples: int = Field(8, ge=1, description="trials per family with search: sampler")

    def family_stage(self, fam: str, fs: FamilySpace, start: Mapping[str, Any]) -> StageConfig:
        where: dict[str, Any] = {"datasets": self.datasets, "seeds": self.seeds}
        if fs.metric is not None:  # the family's own selection metric (C.1: ε by ECE)
            where.update(metric=fs.metric, mode=fs.mode)
        if self.search == "grid":
            if fs.grid is None:
                raise ConfigError(f"space.{fam}.grid: missing; search: grid needs the family's points")
            variants = {point_label(p): deep_merge(start, {"loss": {**fs.config(fam), **p}}) for p in fs.grid}
            return self.sub(GridStage, fam, variants=variants, **where)
        if fs.range is None:
            raise ConfigError(f"space.{fam}.range: missing; search: sampler needs the family's ranges")
        return self.sub(SearchStage, fam, space=prefixed(fs.range, "loss."), sampler_seed=self.sampler_seed,
                        num_samples=self.num_samples, base=deep_merge(start, {"loss": fs.config(fam)}), **where)

    def trial_count(self, spec: SpecView) -> int:
        per = len(self.dataset_keys(spec)) * len(self.seed_list(spec))
        if self.search == "grid":
            return sum(len(fs.grid or []) * per for fs in self.spaces(spec).values())
        return self.num_samples * len(self.spaces(spec))

    def describe(self, spec: SpecView) -> list[str]:
        lines = []
        for fam, fs in self.spaces(spec).items():
            by = f"; selected by {fs.metric} ({fs.mode})" if fs.metric else ""
            if self.search == "grid":
                lines.append(f"{fam}: {len(fs.grid or [])} points ({'; '.join(map(point_label, fs.grid or []))}); "
                             f"datasets {', '.join(self.dataset_keys(spec))}; seeds {self.seed_list(spec)}{by}")
            else:
                ranged = ", ".join(fs.range.params) if fs.range else "no range"
                lines.append(f"{fam}: sampler {self.sampler}, {self.num_samples} trials over {ranged}{by}")
        return lines

    def candidate_runs(self, spec: SpecView, index: int) -> list[tuple[str, RunConfig]]:
        spaces = self.checked_spaces(spec, index)
        try:
            subs = [(fam, self.family_stage(fam, fs, start))
                    for start in self.start_candidates(spec) for fam, fs in spaces.items()]
        except ConfigError as e:
            raise ConfigError(f"stages[{index}].{e}") from None
        return self.validate_subs(spec, index, subs)

    def composite(self, start: Mapping[str, Any], terms: Mapping[str, Any]) -> dict[str, Any]:
        return deep_merge(start, {"loss": {"name": "composite", "terms": dict(terms)}})

    def best_candidates(self, spec: SpecView) -> list[dict[str, Any]]:
        spaces = self.spaces(spec)
        first = {fam: {**fs.config(fam), **fs.points()[0]} for fam, fs in spaces.items()}
        out = []
        for start in self.start_candidates(spec):
            for fam, fs in spaces.items():
                out += [self.composite(start, {**first, fam: {**fs.config(fam), **p}}) for p in fs.points()]
        return unique(out)

    def execute(self, driver: StageDriver, start: Mapping[str, Any]) -> Best | None:
        terms, values, ids, rows = {}, [], [], []
        for fam, fs in self.spaces(driver.spec).items():
            sub = self.family_stage(fam, fs, start)
            b, outcomes = driver.tune(sub, {}, step=fam)
            driver.log_table(outcome_rows(outcomes, sub.primary_metric), f"{fam}.csv")
            if b is None:  # nothing finished: the family keeps its fixed knobs and defaults
                terms[fam] = fs.config(fam)
                rows.append({"family": fam, "best": "no finished trial"})
                continue
            terms[fam] = b.overlay["loss"]
            ids += b.trial_ids
            best_rows = outcome_rows([o for o in outcomes if o.trial_id in b.trial_ids], self.primary_metric)
            if best_rows[0][self.primary_metric] is not None:  # the stage's metric at the family's optimum
                values.append(best_rows[0][self.primary_metric])
            rows.append({"family": fam, "best": b.label, "selected_by": f"{sub.primary_metric} ({sub.primary_mode})",
                         **{k: v for k, v in best_rows[0].items() if k != "config"}})
        driver.log_table(rows, "independent.csv")
        if not values:
            return None
        label = "; ".join(f"{r['family']}: {r['best']}" for r in rows)
        return Best(self.composite(start, terms), label, statistics.fmean(values), ids)
