"""The blend stage: how much diffusion-generated data to use, and how (USAD §3.1.3-3.1.4: the paper's
framework is ``pretrain``, Table 2's "Data Augmentation" row; the 1:4 real:synthetic blend it cites in its
related work comes from Shao & Sanchez 2023).

``kind: blend`` searches ``augment.ratio`` (real:synthetic = 1:ratio, 0 to 4) and ``augment.mode`` (``mix``
or ``pretrain``) with the rest of ``augment`` (the generator's knobs, the class counts) held fixed, so
every trial on a dataset asks for the same generator and the cache trains it once. ``search: grid``
crosses ``ratios`` and ``modes`` (ratio 0, no synthetic data, is the baseline row, run once) over the
stage's datasets and seeds; ``search: sampler`` lets an Optuna sampler pick from ``space`` (e.g.
``search_spaces/diffusion_blend.yaml``). The stage logs ``blend.csv``: each configuration's validation
metric, test F1-macro, accuracy, ECE and minority-class recall.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from hartune.tune.outcomes import Best, SpecView, StageDriver, outcome_rows
from hartune.tune.stages.base import SamplingStage, StageConfig, register_stage
from hartune.tune.stages.grid import GridStage
from hartune.tune.stages.search import SearchStage

if TYPE_CHECKING:
    from hartune.train import RunConfig


@register_stage
class BlendStage(SamplingStage):
    artifacts: ClassVar[dict[str, str]] = {"blend.csv": "each blend's mean validation and test metrics"}

    kind: Literal["blend"] = "blend"
    augment: dict[str, Any] = Field(default_factory=dict, description="fixed augment knobs (generator, counts)")
    search: Literal["grid", "sampler"] = "grid"
    ratios: list[float] = Field(default_factory=lambda: [0.0, 1.0, 4.0], min_length=1)
    modes: list[Literal["mix", "pretrain"]] = Field(default_factory=lambda: ["mix"], min_length=1)
    space: str | dict[str, Any] | None = Field(None, description="search: sampler; default diffusion_blend.yaml")
    num_samples: int = Field(8, ge=1)

    def variants(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for mode in self.modes:
            for ratio in self.ratios:
                name = "real only 1:0" if ratio == 0 else f"{mode} 1:{ratio:g}"
                out.setdefault(name, {"augment": {**self.augment, "mode": mode, "ratio": ratio}})
        return out

    def inner(self) -> StageConfig:
        """The one Tune experiment this stage is: a grid of blends, or a search over them."""
        common = {"name": self.name, "from_stage": self.from_stage, "datasets": self.datasets,
                  "seeds": self.seeds, "metric": self.metric, "mode": self.mode}
        if self.search == "grid":
            return GridStage(variants=self.variants(), **common)
        return SearchStage(space=self.space or "search_spaces/diffusion_blend.yaml", sampler=self.sampler,
                           sampler_seed=self.sampler_seed, num_samples=self.num_samples,
                           scheduler=self.scheduler, base={"augment": dict(self.augment)}, **common)

    def overlays(self, spec: SpecView) -> dict[str, dict[str, Any]]:
        return self.inner().overlays(spec)

    def sampled_points(self, spec: SpecView) -> list[tuple[str, dict[str, Any]]]:
        return self.inner().sampled_points(spec)

    def trial_count(self, spec: SpecView) -> int:
        return self.inner().trial_count(spec)

    def describe(self, spec: SpecView) -> list[str]:
        return self.inner().describe(spec)

    def candidate_runs(self, spec: SpecView, index: int) -> list[tuple[str, RunConfig]]:
        return self.inner().candidate_runs(spec, index)

    def best_candidates(self, spec: SpecView) -> list[dict[str, Any]]:
        return self.inner().best_candidates(spec)

    def execute(self, driver: StageDriver, start: Mapping[str, Any]) -> Best | None:
        inner = self.inner()
        best, outcomes = driver.tune(inner, start)
        driver.log_table(outcome_rows(outcomes, inner.primary_metric), "blend.csv")
        return best
