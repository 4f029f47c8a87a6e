"""The ``interleaved`` stage (USAD Appendix C.3, Tables 11-13): from the optima, round after round
re-searches ONE family's knobs under the full composite while the other families stay at their current
best; a round's best is kept only if it beats the incumbent by more than ``tolerance``. It stops after
``patience`` rounds in a row without such a gain (default: one pass over the families) or ``max_rounds``.
Round 0 measures the start. Each round is one Ray Tune experiment and one MLflow child (step) run of the
stage run; the stage logs the trajectory (``trajectory.csv``): round, family, the knobs' values from and
to, the round's best metric, the incumbent metric and whether the move was kept.

A round searches the family's ``range`` with an Optuna sampler (``search: sampler``, beyond the paper), or
re-tests the family's table points (``grid``, the C.1 points of Tables 8-9) under the full composite
(``search: grid``): the layout of Tables 11-13, one table per round (``round-<r>-<family>.csv``). A
family's own selection ``metric`` (an independent stage's) is not used here: rounds are compared by the
stage's metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from hartune.overlays import deep_merge, unflatten, unique
from hartune.registry import ConfigError
from hartune.tune.outcomes import Best, SpecView, StageDriver, outcome_rows, point_label
from hartune.tune.stages.base import StageConfig, register_stage
from hartune.tune.stages.grid import GridStage
from hartune.tune.stages.loss_space import FamilySpace, LossSearchStage, prefixed
from hartune.tune.stages.search import SearchStage

if TYPE_CHECKING:
    from hartune.train import RunConfig


@register_stage
class InterleavedStage(LossSearchStage):
    """Appendix C.3: one family per round under the full composite, the others fixed at their best."""

    artifacts: ClassVar[dict[str, str]] = {
        "trajectory.csv": "one row per round: family, knobs from and to, round best, incumbent, kept",
        "round-{family}.csv": "search: grid: one round's points with their mean metrics (Tables 11-13)",
    }

    kind: Literal["interleaved"] = "interleaved"
    search: Literal["sampler", "grid"] = "sampler"
    samples_per_round: int = Field(6, ge=1, description="search: sampler; a grid round runs the family's points")
    max_rounds: int = Field(6, ge=1)
    tolerance: float = Field(0.0, ge=0.0, description="a round must beat the incumbent by more than this")
    patience: int | None = Field(None, ge=1, description="rounds without gain that end it; default: one pass")

    def rounds(self, families: list[str]) -> list[str]:
        """The family of each round, in order (the plan; patience may end it earlier)."""
        return [families[r % len(families)] for r in range(self.max_rounds)]

    def scope(self, spec: SpecView) -> dict[str, list[Any]]:
        """Rounds run on the stage's first dataset and first seed."""
        return {"datasets": self.dataset_keys(spec)[:1], "seeds": self.seed_list(spec)[:1]}

    def start_stage(self, spec: SpecView, start: Mapping[str, Any] | None = None) -> GridStage:
        return self.sub(GridStage, "r0-start", variants={"start": dict(start or {})}, **self.scope(spec))

    def round_stage(
        self, spec: SpecView, r: int, fam: str, fs: FamilySpace, incumbent: Mapping[str, Any]
    ) -> StageConfig:
        if self.search == "grid":
            if fs.grid is None:
                raise ConfigError(f"space.{fam}.grid: missing; search: grid re-tests the family's points")
            variants = {point_label(p): deep_merge(incumbent, {"loss": {"terms": {fam: dict(p)}}}) for p in fs.grid}
            return self.sub(GridStage, f"r{r}-{fam}", variants=variants, **self.scope(spec))
        if fs.range is None:
            raise ConfigError(f"space.{fam}.range: missing; an interleaved round searches the family's ranges")
        return self.sub(SearchStage, f"r{r}-{fam}", space=prefixed(fs.range, f"loss.terms.{fam}."),
                        sampler_seed=self.sampler_seed + r, num_samples=self.samples_per_round,
                        base=dict(incumbent), **self.scope(spec))

    def full_start(self, spec: SpecView, start: Mapping[str, Any], families: list[str], where: str) -> dict[str, Any]:
        """``start`` with its loss written out in full (a preset's default terms included), so that a
        round's ``loss.terms.<family>.<knob>`` merges into a complete term; errors if a family is not a
        term of a composite loss."""
        from hartune.losses.composite import CompositeConfig

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

    def round_points(self, fs: FamilySpace) -> list[dict[str, Any]]:
        """The points a round can take: the family's grid, or the corners of its range."""
        if self.search == "grid":
            return [dict(p) for p in fs.grid or []]
        return [p for _, p in fs.range.labelled_corners()] if fs.range else []

    def trial_count(self, spec: SpecView) -> int:
        """An upper bound: patience may stop it sooner."""
        if self.search == "grid":
            spaces = self.spaces(spec)
            return 1 + sum(len(spaces[fam].grid or []) for fam in self.rounds(list(spaces)))
        return 1 + self.max_rounds * self.samples_per_round

    def describe(self, spec: SpecView) -> list[str]:
        spaces = self.spaces(spec)
        fams = self.rounds(list(spaces))
        rounds = (f"grid rounds over each family's points: {', '.join(f'{f} ({len(spaces[f].grid or [])})' for f in fams)}"
                  if self.search == "grid" else
                  f"rounds of {self.samples_per_round} trials ({self.sampler}): {', '.join(fams)}")
        return [(f"round 0 measures the start, then up to {self.max_rounds} {rounds}; stop after "
                 f"{self.patience or len(spaces)} rounds without a gain > {self.tolerance:g}")]

    def candidate_runs(self, spec: SpecView, index: int) -> list[tuple[str, RunConfig]]:
        spaces = self.checked_spaces(spec, index)
        subs: list[tuple[str, StageConfig]] = []
        for start in self.start_candidates(spec):
            start = self.full_start(spec, start, list(spaces), f"stages[{index}]")
            subs.append(("start", self.start_stage(spec, start)))
            try:
                subs += [(fam, self.round_stage(spec, 1, fam, fs, start)) for fam, fs in spaces.items()]
            except ConfigError as e:
                raise ConfigError(f"stages[{index}].{e}") from None
        return self.validate_subs(spec, index, subs)

    def best_candidates(self, spec: SpecView) -> list[dict[str, Any]]:
        spaces = self.spaces(spec)
        out = []
        for start in self.start_candidates(spec):
            out.append(start)
            for fam, fs in spaces.items():
                out += [deep_merge(start, unflatten({f"loss.terms.{fam}.{k}": v for k, v in p.items()}))
                        for p in self.round_points(fs)]
        return unique(out)

    def term(self, spec: SpecView, overlay: Mapping[str, Any], fam: str) -> dict[str, Any]:
        cfg = spec.run_config(self.dataset_keys(spec)[0], overlay, self.seed_list(spec)[0], f"stage {self.name}")
        return cfg.loss.terms[fam].model_dump(mode="json")

    def keeps(self, new: float | None, incumbent: float) -> bool:
        """A round's best replaces the incumbent only if it beats it by more than ``tolerance``."""
        margin = self.tolerance if self.primary_mode == "max" else -self.tolerance
        return new is not None and self.better(new, incumbent + margin)

    def execute(self, driver: StageDriver, start: Mapping[str, Any]) -> Best | None:
        spec = driver.spec
        spaces = self.spaces(spec)
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
            b, outcomes = driver.tune(self.round_stage(spec, r, fam, spaces[fam], incumbent), {}, step=f"round-{r}-{fam}")
            if self.search == "grid":  # the round's table, as Tables 11-13 print it
                driver.log_table(outcome_rows(outcomes, self.primary_metric), f"round-{r}-{fam}.csv")
            keep = b is not None and self.keeps(b.value, value)
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
