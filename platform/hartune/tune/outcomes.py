"""What a stage kind and the runner exchange: trial outcomes, a stage's best, a Tune plan, and the two
protocols between them.

A stage kind (``hartune.tune.stages``) sees the spec only through :class:`SpecView` and the runner only
through :class:`StageDriver`; the runner (``hartune.tune.runner``) owns every Ray and MLflow call. That
keeps the stage kinds free of ``hartune.spec`` (which imports them to build its union of kinds) and lets
a small in-memory driver test a stage's round logic without Ray.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:  # type references only: both modules import this one
    from hartune.train import RunConfig
    from hartune.tune.stages.base import StageConfig

TUNE_KEYS = ("variant", "dataset", "seed")  # a trial's Tune config besides its sampled point
# The per-configuration table of a stage (``blend.csv``, ``<family>.csv``): these means per row.
REPORTED = ("test_accuracy", "test_f1_macro", "test_ece", "test_minority_recall", "val_ece", "val_f1_macro")

M = TypeVar("M", bound=BaseModel)


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

    def run_config(self, dataset: str, overlay: Mapping[str, Any], seed: int, where: str) -> RunConfig:
        """The validated run config of ``overlay`` on dataset ``dataset``; errors start with ``where``."""
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
