"""Tune trial schedulers by name: ``{name: asha, grace_period: 1, reduction_factor: 2}`` in a spec.

Time is counted in epochs: our trainable reports ``epoch`` after the epochs a scheduler reads
(``judged_epochs``: ASHA's rungs, every epoch for the median rule, none for FIFO; ``tracking.tune_reports:
every_epoch`` reports all), then once more with the same epoch number, its test metrics and
``hartune_final=True``. A trial that reached its last epoch is
never stopped, so that final report always arrives; Optuna then learns which trials were cut short
(see ``hartune.tune.search``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, MedianStoppingRule, TrialScheduler

from hartune.registry import ConfigError, Registry

TIME_ATTR = "epoch"


class _FinishLastEpoch:
    """Mixin: CONTINUE every result at or past ``last_epoch``.

    Without it ASHA's top rung (at ``max_t`` whenever ``max_t / grace_period`` is a power of the
    reduction factor) or the median rule would stop a fully trained trial just before its final report.
    """

    def __init__(self, *args: Any, last_epoch: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_epoch = last_epoch

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if result.get(TIME_ATTR, float("-inf")) >= self._last_epoch:
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)  # type: ignore[misc]


class FinishingASHA(_FinishLastEpoch, AsyncHyperBandScheduler):
    pass


class FinishingMedianStoppingRule(_FinishLastEpoch, MedianStoppingRule):
    pass


class SchedulerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    # On a cross-validation axis (``hartune.tune.cv.FoldScheduler``): ``per_fold`` judges fold f of a point
    # against fold f of the others as it reports (works at any concurrency; a stopped point's later folds
    # never train); ``mean`` judges the point's fold-mean curve once every fold reported an epoch (needs
    # the folds side by side). Either way a stop stops the whole point.
    fold_rule: Literal["per_fold", "mean"] = "per_fold"

    def build(self, metric: str, mode: str, max_t: int) -> TrialScheduler:
        """The scheduler for runs of ``max_t`` epochs. It carries ``metric``/``mode``, so leave them out
        of ``tune.TuneConfig`` (Tune refuses both)."""
        raise NotImplementedError

    def judged_epochs(self, max_t: int) -> frozenset[int] | None:
        """The epochs whose results the scheduler reads, for runs of ``max_t`` epochs; None: every epoch.
        A trial reports only these to Tune (and its checkpoints, the live view's and its final one)."""
        return None


SCHEDULERS: Registry[type[SchedulerConfig]] = Registry("scheduler")


@SCHEDULERS.register("none")
@SCHEDULERS.register("fifo")
class FifoConfig(SchedulerConfig):
    """No early stopping: every trial trains to its end."""

    name: Literal["fifo", "none"] = "fifo"

    def build(self, metric: str, mode: str, max_t: int) -> TrialScheduler:
        return FIFOScheduler()

    def judged_epochs(self, max_t: int) -> frozenset[int] | None:
        return frozenset()


@SCHEDULERS.register("asha")
class AshaConfig(SchedulerConfig):
    """Asynchronous successive halving (Li et al., 2020): at epochs ``grace_period * rf**k`` a trial
    continues only if it is in the top ``1/rf`` of the trials recorded at that rung."""

    name: Literal["asha"] = "asha"
    grace_period: int = Field(1, ge=1, description="epochs before the first rung")
    reduction_factor: float = Field(2.0, gt=1)  # 2 gives a rung every doubling of short (~20 epoch) runs
    max_t: int | None = Field(None, ge=1, description="epochs of the last rung; default: the run's epochs")
    brackets: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _grace_within_max_t(self) -> AshaConfig:
        if self.max_t is not None and self.grace_period > self.max_t:
            raise ValueError(f"grace_period={self.grace_period} must be <= max_t={self.max_t}")
        return self

    def build(self, metric: str, mode: str, max_t: int) -> TrialScheduler:
        horizon = self.max_t or max_t
        if self.grace_period > horizon:
            raise ConfigError(
                f"scheduler.grace_period={self.grace_period}: must be <= max_t={horizon} (epochs)"
            )
        return FinishingASHA(
            time_attr=TIME_ATTR,
            metric=metric,
            mode=mode,
            max_t=horizon,
            grace_period=self.grace_period,
            reduction_factor=self.reduction_factor,
            brackets=self.brackets,
            stop_last_trials=False,  # a trial at max_t still owes its final report
            last_epoch=max_t,
        )

    def judged_epochs(self, max_t: int) -> frozenset[int] | None:
        """Each bracket's rungs, as Ray's ``_Bracket`` lays them out: ``grace_period * rf**(k + s)`` for
        bracket ``s``; a rung records the first result at or past it, so its epoch is the ceiling."""
        horizon, rf = self.max_t or max_t, self.reduction_factor
        out = set()
        for s in range(self.brackets):
            rungs = int(math.log(horizon / self.grace_period) / math.log(rf) - s + 1)
            out.update(math.ceil(self.grace_period * rf ** (k + s)) for k in range(rungs))
        return frozenset(e for e in out if e <= max_t)


@SCHEDULERS.register("median")
class MedianConfig(SchedulerConfig):
    """Stop a trial whose best score so far is worse than the median of the other trials' running
    means at the same epoch (Golovin et al., 2017, Google Vizier)."""

    name: Literal["median"] = "median"
    grace_period: int = Field(1, ge=0, description="epochs before any stopping")
    min_samples_required: int = Field(3, ge=1, description="other trials needed at an epoch to compare")

    def build(self, metric: str, mode: str, max_t: int) -> TrialScheduler:
        return FinishingMedianStoppingRule(
            time_attr=TIME_ATTR,
            metric=metric,
            mode=mode,
            grace_period=self.grace_period,
            min_samples_required=self.min_samples_required,
            # Ray's default (0) PAUSEs a trial whenever too few others reached its epoch and trials
            # wait; a paused function trainable restarts from its last checkpoint. inf: never yield.
            min_time_slice=float("inf"),
            last_epoch=max_t,
        )
