"""What a stage kind and the runner exchange: trial outcomes, a stage's best, a Tune plan, and the two
protocols between them.

A stage kind (``hartune.tune.stages``) sees the spec only through :class:`SpecView` and the runner only
through :class:`StageDriver`; the runner (``hartune.tune.runner``) owns every Ray and MLflow call. That
keeps the stage kinds free of ``hartune.spec`` (which imports them to build its union of kinds) and lets
a small in-memory driver test a stage's round logic without Ray.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:  # type references only: both modules import this one
    from hartune.train import RunConfig
    from hartune.tune.stages.base import StageConfig

# A trial's Tune config besides its sampled point: the grid's variant, the dataset, the training seed,
# and on a cross-validation axis the fold and (in a search) the point the fold belongs to.
FOLD, POINT = "fold", "point"
TUNE_KEYS = ("variant", "dataset", "seed", FOLD, POINT)
FINAL = "hartune_final"  # flag of a trial's last report: it trained to its end and was tested
# The per-configuration table of a stage (``blend.csv``, ``<family>.csv``): these means per row.
REPORTED = ("test_accuracy", "test_f1_macro", "test_ece", "test_minority_recall", "val_ece", "val_f1_macro")

M = TypeVar("M", bound=BaseModel)
# Called on the driver with the first trial config of each cross-validation group (the folds of one
# configuration), before that trial exists: the runner opens the group's MLflow run there.
GroupHook = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class TrialOutcome:
    """What a finished stage knows of one trial (from Tune's last result)."""

    trial_id: str
    config: dict[str, Any]  # the Tune config: variant, dataset, seed, sampled params
    metrics: dict[str, Any]  # last reported result
    status: Literal["finished", "stopped", "failed"]
    error: str | None = None

    def point(self) -> dict[str, Any]:
        """The sampled point (flat run-config paths), without the variant, dataset and seed."""
        return {k: v for k, v in self.config.items() if k not in TUNE_KEYS}


@dataclass(frozen=True)
class Best:
    overlay: dict[str, Any]  # partial run config that reproduces the best configuration
    label: str  # variant name or sampled point, for humans
    value: float
    trial_ids: list[str] = field(default_factory=list)


@dataclass
class TunePlan:
    param_space: dict[str, Any]
    num_samples: int = 1
    search_alg: Any = None
    scheduler: Any = None
    # The epochs whose results the scheduler reads (``SchedulerConfig.judged_epochs``); None: every
    # epoch. A trial reports these to Tune, besides its checkpoints, the live view's and its final one.
    judged_epochs: frozenset[int] | None = frozenset()


class SpecView(Protocol):
    """What a stage kind may know of the spec (``hartune.spec.Spec`` is one)."""

    @property
    def datasets(self) -> Mapping[str, Any]:
        """Dataset key -> its entry (a stage's default datasets are all of them)."""
        ...

    @property
    def seeds(self) -> list[int]: ...

    def stage(self, name: str) -> StageConfig:
        """The stage called ``name`` (an unknown name lists the spec's stages)."""
        ...

    def run_config(
        self, dataset: str, overlay: Mapping[str, Any], seed: int, where: str, fold: int | None = None
    ) -> RunConfig:
        """The validated run config of ``overlay`` on dataset ``dataset`` (on its fold ``fold`` when the
        dataset has a fold axis); errors start with ``where``."""
        ...

    def folds(self, dataset: str) -> list[int] | None:
        """The cross-validation folds of a dataset (None: no fold axis); one line if they cannot be counted."""
        ...

    def space(self, source: str | Mapping[str, Any], model: type[M], prefix: str = "space") -> M:
        """A search-space file (relative to the working directory or the spec's folder) or an inline
        mapping, validated into ``model`` once per spec; errors are one line starting with ``prefix``."""
        ...


class StageDriver(Protocol):
    """What a stage may ask of the runner, which owns Ray Tune and MLflow."""

    spec: SpecView

    def tune(
        self, stage: StageConfig, start: Mapping[str, Any], step: str | None = None
    ) -> tuple[Best | None, list[TrialOutcome]]:
        """Run ``stage`` as one Tune experiment from the partial run config ``start``. With ``step``, its
        trials sit under a child run of the stage run named ``step`` (a round, a loss family)."""
        ...

    def log_table(self, rows: list[dict[str, Any]], artifact_file: str) -> None:
        """A table artifact (``.csv``) of the stage run; the stage kind declares its name."""
        ...

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """A matplotlib figure (``.png``) of the stage run; the stage kind declares its name."""
        ...


def group_key(config: Mapping[str, Any]) -> str:
    """The configuration the folds of a cross-validation group evaluate: a search's sampled point
    (``point-<n>``), else the grid's ``<variant>-<dataset>-s<seed>``. A trial without a fold is a group
    of one."""
    if config.get(POINT) is not None:
        return f"point-{config[POINT]}"
    return f"{config.get('variant')}-{config.get('dataset')}-s{config.get('seed')}"


@dataclass(frozen=True)
class GroupValue:
    """One configuration's value over its folds."""

    config: dict[str, Any]  # the first fold's Tune config, without ``fold``
    value: float  # mean over the folds of the metric
    trial_ids: list[str]
    values: list[float]  # one per fold, in fold order


def group_means(outcomes: list[TrialOutcome], metric: str) -> list[GroupValue]:
    """The mean ``metric`` of each group whose every trial finished (a fold that was stopped or failed
    leaves its configuration without a cross-validated value), in first-seen order."""
    groups: dict[str, list[TrialOutcome]] = {}
    for o in outcomes:
        groups.setdefault(group_key(o.config) if o.config.get(FOLD) is not None else o.trial_id, []).append(o)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda o: o.config.get(FOLD) or 0)
        values = [final_value(o, metric) for o in members]
        if any(v is None for v in values):
            continue
        config = {k: v for k, v in members[0].config.items() if k != FOLD}
        vals = [float(v) for v in values if v is not None]
        out.append(GroupValue(config, statistics.fmean(vals), [o.trial_id for o in members], vals))
    return out


def final_value(o: TrialOutcome, metric: str) -> float | None:
    """``metric`` of a trial that trained to its end; None for one stopped early or failed."""
    v = o.metrics.get(metric) if o.status == "finished" else None
    return float(v) if isinstance(v, (int, float)) else None


def point_label(point: Mapping[str, Any]) -> str:
    """``{'loss.terms.focal.gamma': 1.0}`` -> ``gamma=1``."""
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
                     for k, v in point.items())


def outcome_rows(outcomes: list[TrialOutcome], metric: str) -> list[dict[str, Any]]:
    """One row per configuration (a grid variant, or a sampled point): finished trials' mean metrics."""
    groups: dict[str, list[TrialOutcome]] = {}
    for o in outcomes:
        point = o.point()
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
