"""The loss searches of the USAD paper's Appendix C, as stage kinds.

* ``independent`` (C.1): each loss family (label smoothing, focal, class-balanced...) searched alone,
  as the only loss: by ``grid`` (the paper's tables) or by any Optuna ``sampler`` over ranges. Its best is
  the composite whose terms are the families at their optima (class-balanced CE is CE at β = 0, so the
  paper's CE + focal + label smoothing becomes class-balanced + focal + label smoothing).
* The composite search (C.2, initial weights, temperature, min/max weight) is a plain ``search`` stage
  over ``search_spaces/loss_composite.yaml`` with ``from_stage`` the independent stage.
* ``interleaved`` (C.3): from the optima, round after round re-searches ONE family's knobs under the
  full composite while the other families stay at their current best; a round's best is kept only if
  it beats the incumbent by more than ``tolerance``. It stops after ``patience`` rounds in a row without
  such a gain (default: one pass over the families) or ``max_rounds``. Round 0 measures the start.
  Each round is one Ray Tune search with an Optuna sampler and one MLflow child run of the stage run;
  the stage logs the trajectory (``trajectory.csv``): round, family, the knobs' values from and to,
  the round's best metric, the incumbent metric and whether the move was kept.

A loss space file maps a family (a registered loss name) to its knobs, relative to that loss's config::

    focal:
      grid: [{gamma: 1, alpha: 0.25}, {gamma: 2, alpha: 0.25}]   # search: grid (explicit points)
      range:                                                     # samplers, interleaved rounds
        gamma: {type: float, low: 0.5, high: 4.0}
        alpha: {type: float, low: 0.1, high: 0.9}
      loss: {base: ce}                 # fixed knobs of the family's loss (and ``name`` if not the key)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from hartune.registry import ConfigError
from hartune.tune.space import Choice, SearchSpace, load_space
from hartune.tune.stages import (
    TUNE_KEYS,
    Best,
    GridStage,
    SamplingStage,
    SearchStage,
    StageConfig,
    StageDriver,
    TrialOutcome,
    corners,
    final_value,
    register_stage,
    space_dir,
    unique,
)

if TYPE_CHECKING:
    from hartune.spec import Spec
    from hartune.train import RunConfig

REPORTED = ("test_accuracy", "test_f1_macro", "test_ece", "test_minority_recall", "val_ece", "val_f1_macro")  # per row


class FamilySpace(BaseModel):
    """One loss family of a loss space file: fixed knobs, table points, ranges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loss: dict[str, Any] = Field(default_factory=dict, description="fixed knobs; `name` if not the key")
    grid: list[dict[str, Choice]] | None = Field(None, min_length=1)
    range: SearchSpace | None = None

    @model_validator(mode="after")
    def _something_to_search(self) -> FamilySpace:
        if self.grid is None and self.range is None:
            raise ValueError("give grid (a list of points) or range (a search space), or both")
        return self

    def config(self, family: str) -> dict[str, Any]:
        return {"name": family, **self.loss}

    def points(self) -> list[dict[str, Any]]:
        """Every point that bounds what this family can take: the grid points, the range corners."""
        pts = [dict(p) for p in self.grid or []]
        return pts + [point for _, point in corners(self.range)] if self.range else pts


class LossSpaces(RootModel[dict[str, FamilySpace]]):
    @model_validator(mode="after")
    def _families(self) -> LossSpaces:
        if not self.root:
            raise ValueError("no loss family; give e.g. label_smoothing: {grid: [{epsilon: 0.05}]}")
        return self


def point_label(point: Mapping[str, Any]) -> str:
    """``{'loss.terms.focal.gamma': 1.0}`` -> ``gamma=1``."""
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
                     for k, v in point.items())


def prefixed(space: SearchSpace, prefix: str) -> dict[str, Any]:
    return {f"{prefix}{k}": p.model_dump(exclude_none=True) for k, p in space.params.items()}


def outcome_rows(outcomes: list[TrialOutcome], metric: str) -> list[dict[str, Any]]:
    """One row per configuration (a grid variant, or a sampled point): finished trials' mean metrics."""
    groups: dict[str, list[TrialOutcome]] = {}
    for o in outcomes:
        point = {k: v for k, v in o.config.items() if k not in TUNE_KEYS}
        groups.setdefault(point_label(point) if point else str(o.config.get("variant")), []).append(o)
    rows = []
    for label, group in groups.items():
        done = [o for o in group if final_value(o, metric) is not None]
        row: dict[str, Any] = {"config": label, "finished": len(done), "not_finished": len(group) - len(done)}
        for key in (metric, *REPORTED):
            values = [float(o.metrics[key]) for o in done if isinstance(o.metrics.get(key), (int, float))]
            row[key] = statistics.fmean(values) if values else None
        rows.append(row)
    return rows


class LossSearchStage(SamplingStage):
    """What both loss-search kinds share: the family space file, the sampler and the scheduler."""

    space: str | dict[str, Any] = Field(description="a loss space file (search_spaces/loss_*.yaml) or mapping")
    families: list[str] | None = Field(None, min_length=1, description="default: every family of the space")

    def spaces(self, base_dir: Path) -> dict[str, FamilySpace]:
        loaded = load_space(self.space, space_dir(self.space, base_dir), prefix="space", model=LossSpaces).root
        for fam in self.families or []:
            if fam not in loaded:
                raise ConfigError(f"families: {fam!r} is not in the space; accepted: {', '.join(loaded)}")
        return {fam: loaded[fam] for fam in self.families or loaded}

    def checked_spaces(self, index: int, base_dir: Path) -> dict[str, FamilySpace]:
        try:
            return self.spaces(base_dir)
        except ConfigError as e:
            raise ConfigError(f"stages[{index}].{e}") from None

    def sub(self, cls: type[StageConfig], name: str, **fields: Any) -> Any:
        """A sub-stage sharing this stage's metric, mode and (for searches) sampler and scheduler."""
        common = {"metric": self.metric, "mode": self.mode}
        if cls is SearchStage:
            common.update(sampler=self.sampler, scheduler=self.scheduler)
        return cls(name=f"{self.name}.{name}", **common, **fields)

    def validate_subs(
        self, spec: Spec, index: int, base_dir: Path, subs: list[tuple[str, StageConfig]]
    ) -> list[tuple[str, RunConfig]]:
        out = []
        for label, sub in subs:
            try:
                out += sub.candidate_runs(spec, index, base_dir)
            except ConfigError as e:
                raise ConfigError(str(e).replace(f"stages[{index}].", f"stages[{index}].{label}.", 1)) from None
        return out


@register_stage
class IndependentStage(LossSearchStage):
    """Appendix C.1: every family alone; the best is the composite of the families' optima."""

    kind: Literal["independent"] = "independent"
    search: Literal["grid", "sampler"] = "grid"
    num_samples: int = Field(8, ge=1, description="trials per family with search: sampler")

    def family_stage(self, spec: Spec, fam: str, fs: FamilySpace, start: Mapping[str, Any]) -> StageConfig:
        from hartune.spec import deep_merge

        where = {"datasets": self.datasets, "seeds": self.seeds}
        if self.search == "grid":
            if fs.grid is None:
                raise ConfigError(f"space.{fam}.grid: missing; search: grid needs the family's points")
            variants = {point_label(p): deep_merge(start, {"loss": {**fs.config(fam), **p}}) for p in fs.grid}
            return self.sub(GridStage, fam, variants=variants, **where)
        if fs.range is None:
            raise ConfigError(f"space.{fam}.range: missing; search: sampler needs the family's ranges")
        return self.sub(SearchStage, fam, space=prefixed(fs.range, "loss."), sampler_seed=self.sampler_seed,
                        num_samples=self.num_samples, base=deep_merge(start, {"loss": fs.config(fam)}), **where)

    def trial_count(self, spec: Spec, base_dir: Path) -> int:
        per = len(self.dataset_keys(spec)) * len(self.seed_list(spec))
        if self.search == "grid":
            return sum(len(fs.grid or []) * per for fs in self.spaces(base_dir).values())
        return self.num_samples * len(self.spaces(base_dir))

    def describe(self, spec: Spec, base_dir: Path) -> list[str]:
        lines = []
        for fam, fs in self.spaces(base_dir).items():
            if self.search == "grid":
                lines.append(f"{fam}: {len(fs.grid or [])} points ({'; '.join(map(point_label, fs.grid or []))}); "
                             f"datasets {', '.join(self.dataset_keys(spec))}; seeds {self.seed_list(spec)}")
            else:
                lines.append(f"{fam}: sampler {self.sampler}, {self.num_samples} trials over {', '.join(fs.range.params)}")
        return lines

    def candidate_runs(self, spec: Spec, index: int, base_dir: Path) -> list[tuple[str, RunConfig]]:
        spaces = self.checked_spaces(index, base_dir)
        try:
            subs = [(fam, self.family_stage(spec, fam, fs, start))
                    for start in self.start_candidates(spec, base_dir) for fam, fs in spaces.items()]
        except ConfigError as e:
            raise ConfigError(f"stages[{index}].{e}") from None
        return self.validate_subs(spec, index, base_dir, subs)

    def composite(self, start: Mapping[str, Any], terms: Mapping[str, Any]) -> dict[str, Any]:
        from hartune.spec import deep_merge

        return deep_merge(start, {"loss": {"name": "composite", "terms": dict(terms)}})

    def best_candidates(self, spec: Spec, base_dir: Path) -> list[dict[str, Any]]:
        spaces = self.spaces(base_dir)
        first = {fam: {**fs.config(fam), **fs.points()[0]} for fam, fs in spaces.items()}
        out = []
        for start in self.start_candidates(spec, base_dir):
            for fam, fs in spaces.items():
                out += [self.composite(start, {**first, fam: {**fs.config(fam), **p}}) for p in fs.points()]
        return unique(out)

    def execute(self, driver: StageDriver, start: Mapping[str, Any]) -> Best | None:
        terms, values, ids, rows = {}, [], [], []
        for fam, fs in self.spaces(driver.base_dir).items():
            b, outcomes = driver.tune(self.family_stage(driver.spec, fam, fs, start), {}, step=fam)
            driver.log_table(outcome_rows(outcomes, self.primary_metric), f"{fam}.csv")
            if b is None:  # nothing finished: the family keeps its fixed knobs and defaults
                terms[fam] = fs.config(fam)
                rows.append({"family": fam, "best": "no finished trial"})
                continue
            terms[fam] = b.overlay["loss"]
            values.append(b.value)
            ids += b.trial_ids
            best_rows = [r for r in outcome_rows([o for o in outcomes if o.trial_id in b.trial_ids], self.primary_metric)]
            rows.append({"family": fam, "best": b.label, **{k: v for k, v in best_rows[0].items() if k != "config"}})
        driver.log_table(rows, "independent.csv")
        if not values:
            return None
        label = "; ".join(f"{r['family']}: {r['best']}" for r in rows)
        return Best(self.composite(start, terms), label, statistics.fmean(values), ids)


@register_stage
class InterleavedStage(LossSearchStage):
    """Appendix C.3: one family per round under the full composite, the others fixed at their best."""

    kind: Literal["interleaved"] = "interleaved"
    samples_per_round: int = Field(6, ge=1)
    max_rounds: int = Field(6, ge=1)
    tolerance: float = Field(0.0, ge=0.0, description="a round must beat the incumbent by more than this")
    patience: int | None = Field(None, ge=1, description="rounds without gain that end it; default: one pass")

    def rounds(self, families: list[str]) -> list[str]:
        """The family of each round, in order (the plan; patience may end it earlier)."""
        return [families[r % len(families)] for r in range(self.max_rounds)]

    def where(self, spec: Spec) -> dict[str, list[Any]]:
        return {"datasets": self.dataset_keys(spec)[:1], "seeds": self.seed_list(spec)[:1]}

    def start_stage(self, spec: Spec) -> GridStage:
        return self.sub(GridStage, "r0-start", variants={"start": {}}, **self.where(spec))

    def round_stage(self, spec: Spec, r: int, fam: str, fs: FamilySpace, incumbent: Mapping[str, Any]) -> SearchStage:
        if fs.range is None:
            raise ConfigError(f"space.{fam}.range: missing; an interleaved round searches the family's ranges")
        return self.sub(SearchStage, f"r{r}-{fam}", space=prefixed(fs.range, f"loss.terms.{fam}."),
                        sampler_seed=self.sampler_seed + r, num_samples=self.samples_per_round,
                        base=dict(incumbent), **self.where(spec))

    def full_start(self, spec: Spec, start: Mapping[str, Any], families: list[str], where: str) -> dict[str, Any]:
        """``start`` with its loss written out in full (a preset's default terms included), so that a
        round's ``loss.terms.<family>.<knob>`` merges into a complete term; errors if a family is not a
        term of a composite loss."""
        from hartune.losses.composite import CompositeConfig
        from hartune.spec import deep_merge

        loss = spec.run_config(self.dataset_keys(spec)[0], start, 0, where).loss
        terms = list(loss.terms) if isinstance(loss, CompositeConfig) else []
        missing = [f for f in families if f not in terms]
        if missing:
            raise ConfigError(
                f"{where}: starts from loss {loss.name!r} with terms {', '.join(terms) or 'none'}; it searches "
                f"the composite's terms {', '.join(families)}: start it from an independent or composite stage "
                "(from_stage) or make the spec's loss a composite with those terms"
            )
        return deep_merge(start, {"loss": loss.model_dump(mode="json")})

    def trial_count(self, spec: Spec, base_dir: Path) -> int:
        return 1 + self.max_rounds * self.samples_per_round  # an upper bound: patience may stop it sooner

    def describe(self, spec: Spec, base_dir: Path) -> list[str]:
        fams = list(self.spaces(base_dir))
        return [(f"round 0 measures the start, then up to {self.max_rounds} rounds of {self.samples_per_round} "
                 f"trials ({self.sampler}): {', '.join(self.rounds(fams))}; stop after "
                 f"{self.patience or len(fams)} rounds without a gain > {self.tolerance:g}")]

    def candidate_runs(self, spec: Spec, index: int, base_dir: Path) -> list[tuple[str, RunConfig]]:
        spaces = self.checked_spaces(index, base_dir)
        subs: list[tuple[str, StageConfig]] = []
        for start in self.start_candidates(spec, base_dir):
            start = self.full_start(spec, start, list(spaces), f"stages[{index}]")
            subs.append(("start", self.sub(GridStage, "r0-start", variants={"start": start}, **self.where(spec))))
            try:
                subs += [(fam, self.round_stage(spec, 1, fam, fs, start)) for fam, fs in spaces.items()]
            except ConfigError as e:
                raise ConfigError(f"stages[{index}].{e}") from None
        return self.validate_subs(spec, index, base_dir, subs)

    def best_candidates(self, spec: Spec, base_dir: Path) -> list[dict[str, Any]]:
        from hartune.spec import deep_merge, unflatten

        spaces = self.spaces(base_dir)
        out = []
        for start in self.start_candidates(spec, base_dir):
            out.append(start)
            for fam, fs in spaces.items():
                out += [deep_merge(start, unflatten({f"loss.terms.{fam}.{k}": v for k, v in p.items()}))
                        for _, p in corners(fs.range)] if fs.range else []
        return unique(out)

    def term(self, spec: Spec, overlay: Mapping[str, Any], fam: str) -> dict[str, Any]:
        cfg = spec.run_config(self.dataset_keys(spec)[0], overlay, self.seed_list(spec)[0], f"stage {self.name}")
        return cfg.loss.terms[fam].model_dump(mode="json")

    def execute(self, driver: StageDriver, start: Mapping[str, Any]) -> Best | None:
        spec = driver.spec
        spaces = self.spaces(driver.base_dir)
        start = self.full_start(spec, start, list(spaces), f"stage {self.name}")
        b, _ = driver.tune(self.start_stage(spec), start, step="round-0-start")
        if b is None:
            return None
        incumbent, value, ids = dict(b.overlay), b.value, list(b.trial_ids)
        rows = [{"round": 0, "family": "start", "from": "", "to": "", "round_best": value, "incumbent": value,
                 "kept": True}]
        patience, stale = self.patience or len(spaces), 0
        for r, fam in enumerate(self.rounds(list(spaces)), start=1):
            if stale >= patience:
                break
            before = self.term(spec, incumbent, fam)
            b, _ = driver.tune(self.round_stage(spec, r, fam, spaces[fam], incumbent), {}, step=f"round-{r}-{fam}")
            keep = b is not None and self.better(b.value, value + (self.tolerance if self.primary_mode == "max" else -self.tolerance))
            after = self.term(spec, b.overlay, fam) if b is not None else before
            moved = {k: v for k, v in after.items() if before.get(k) != v}
            rows.append({
                "round": r, "family": fam, "from": _show({k: before.get(k) for k in moved}),
                "to": _show(moved), "round_best": b.value if b is not None else None,
                "incumbent": b.value if keep else value, "kept": keep,
            })
            if keep:
                incumbent, value, ids, stale = dict(b.overlay), b.value, list(b.trial_ids), 0
            else:
                stale += 1
        driver.log_table(rows, "trajectory.csv")
        return Best(incumbent, _show({f: self.term(spec, incumbent, f) for f in spaces}), value, ids)


def _show(d: Mapping[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, Mapping):
            return "{" + ", ".join(f"{k}={fmt(x)}" for k, x in v.items() if k != "name") + "}"
        return str(v)

    return "; ".join(f"{k}={fmt(v)}" for k, v in d.items())

