"""What the two loss-search kinds (``independent``, ``interleaved``; the USAD paper's Appendix C) share:
the loss space file, its families, the sampler and the scheduler.

A loss space file maps a family (a registered loss name) to its knobs, relative to that loss's config::

    focal:
      grid: [{gamma: 1, alpha: 0.25}, {gamma: 2, alpha: 0.25}]   # search: grid (explicit points)
      range:                                                     # samplers, interleaved rounds
        gamma: {type: float, low: 0.5, high: 4.0}
        alpha: {type: float, low: 0.1, high: 0.9}
      loss: {base: ce}                 # fixed knobs of the family's loss (and ``name`` if not the key)
      metric: val_ece                  # independent stage only: pick this family's point by it
      mode: min                        # (default: the stage's metric and mode)

The composite search (C.2: initial weights, temperature, min/max weight) is a plain ``search`` stage
over ``search_spaces/loss_composite.yaml`` with ``from_stage`` an independent stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from hartune.registry import ConfigError
from hartune.tune.outcomes import SpecView
from hartune.tune.space import Choice, SearchSpace
from hartune.tune.stages.base import METRIC_PATTERN, SamplingStage, StageConfig
from hartune.tune.stages.search import SearchStage

if TYPE_CHECKING:
    from hartune.train import RunConfig


class FamilySpace(BaseModel):
    """One loss family of a loss space file: fixed knobs, table points, ranges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loss: dict[str, Any] = Field(default_factory=dict, description="fixed knobs; `name` if not the key")
    grid: list[dict[str, Choice]] | None = Field(None, min_length=1)
    range: SearchSpace | None = None
    # The family's own selection metric (USAD Appendix C.1 picks ε by ECE); default: the stage's.
    metric: str | None = Field(None, pattern=METRIC_PATTERN)
    mode: Literal["max", "min"] | None = None

    @model_validator(mode="after")
    def _something_to_search(self) -> FamilySpace:
        if self.grid is None and self.range is None:
            raise ValueError("give grid (a list of points) or range (a search space), or both")
        if (self.metric is None) != (self.mode is None):
            raise ValueError("give metric and mode together (e.g. metric: val_ece, mode: min), or neither")
        return self

    def config(self, family: str) -> dict[str, Any]:
        return {"name": family, **self.loss}

    def points(self) -> list[dict[str, Any]]:
        """Every point that bounds what this family can take: the grid points, the range corners."""
        pts = [dict(p) for p in self.grid or []]
        return pts + [point for _, point in self.range.labelled_corners()] if self.range else pts


class LossSpaces(RootModel[dict[str, FamilySpace]]):
    @model_validator(mode="after")
    def _families(self) -> LossSpaces:
        if not self.root:
            raise ValueError("no loss family; give e.g. label_smoothing: {grid: [{epsilon: 0.05}]}")
        return self


def prefixed(space: SearchSpace, prefix: str) -> dict[str, Any]:
    """The space with every parameter moved under ``prefix`` (``loss.terms.focal.``)."""
    return {f"{prefix}{k}": p.model_dump(exclude_none=True) for k, p in space.params.items()}


class LossSearchStage(SamplingStage):
    """What both loss-search kinds share: the family space file, the sampler and the scheduler."""

    space: str | dict[str, Any] = Field(description="a loss space file (search_spaces/loss_*.yaml) or mapping")
    families: list[str] | None = Field(None, min_length=1, description="default: every family of the space")

    def spaces(self, spec: SpecView) -> dict[str, FamilySpace]:
        """The searched families of the space (validated once per spec: ``SpecView.space``)."""
        loaded = spec.space(self.space, LossSpaces).root
        for fam in self.families or []:
            if fam not in loaded:
                raise ConfigError(f"families: {fam!r} is not in the space; accepted: {', '.join(loaded)}")
        return {fam: loaded[fam] for fam in self.families or loaded}

    def checked_spaces(self, spec: SpecView, index: int) -> dict[str, FamilySpace]:
        try:
            return self.spaces(spec)
        except ConfigError as e:
            raise ConfigError(f"stages[{index}].{e}") from None

    def sub(self, cls: type[StageConfig], name: str, **fields: Any) -> Any:
        """A sub-stage sharing this stage's metric, mode (unless ``fields`` give them) and (for searches)
        sampler and scheduler."""
        common = {"metric": self.metric, "mode": self.mode}
        if cls is SearchStage:
            common.update(sampler=self.sampler, scheduler=self.scheduler)
        return cls(name=f"{self.name}.{name}", **{**common, **fields})

    def validate_subs(
        self, spec: SpecView, index: int, subs: list[tuple[str, StageConfig]]
    ) -> list[tuple[str, RunConfig]]:
        out = []
        for label, sub in subs:
            try:
                out += sub.candidate_runs(spec, index)
            except ConfigError as e:
                raise ConfigError(str(e).replace(f"stages[{index}].", f"stages[{index}].{label}.", 1)) from None
        return out
