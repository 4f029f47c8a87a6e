"""Subject-wise cross-validation as an axis of every stage: one Tune trial per fold, searched and
scheduled on the mean over folds.

A dataset entry whose split says ``folds: all`` (or a list of fold indices; ``loso`` and ``kfold``) gives
every stage a fold axis. Each fold is its own Tune trial (its Tune config carries ``fold``), so a
cluster trains the folds of one configuration in parallel. The folds of one configuration form a
*group*: a grid's variant x dataset x seed, or a search's sampled point (Tune config key ``point``, the
Optuna trial number). Three pieces make the axis work under Ray Tune, whose own answer (the
``Repeater`` searcher) lets its scheduler see single repetitions:

* :class:`CellSearcher` hands Tune an explicit list of trial configs: a grid whose datasets have fold
  lists of their own (LOSO counts one fold per subject) is not a cross product.
* :class:`FoldSearcher` wraps the Optuna searcher: one sampled point is one Optuna trial and becomes one
  Tune trial per fold. Optuna sees, at each epoch, the mean over the point's folds, and at the end the
  mean of their final values (a list of means for multi-objective searches). A point is COMPLETE when
  every fold trained to its end, PRUNED when a scheduler stopped it, FAIL when a fold failed.
* :class:`FoldScheduler` wraps ASHA or the median rule: the inner scheduler sees one curve per point,
  the mean over its folds at each epoch, and decides when the last fold of the point reports that
  epoch; it never compares one fold's curve with another point's mean. A STOP stops every fold of the
  point. A decision is taken only while every fold is still training, so a stopped point never has a
  finished fold (once a fold has reported its last epoch or ended, the point's remaining rungs are
  skipped): an ASHA-stopped point is stopped on all its folds and PRUNED in Optuna.

Alternatives not implemented: scheduling each fold on its own rung table (fold f of a point against
fold f of the others), which decides earlier at low concurrency; and Ray's ``Repeater``.
"""

from __future__ import annotations

import copy
import math
import pickle
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.result import TRAINING_ITERATION
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from hartune.tracking.runs import group_key
from hartune.tune.outcomes import FINAL, FOLD, POINT, GroupHook
from hartune.tune.schedulers import TIME_ATTR


def fold_mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


class CellSearcher(Searcher):
    """Tune trials from an explicit list of configs, in order (each group's folds one after another,
    so that a group's folds train side by side). ``on_group`` opens a group's MLflow run on the driver
    before its first fold trial exists."""

    def __init__(self, cells: Sequence[Mapping[str, Any]], on_group: GroupHook | None = None) -> None:
        super().__init__(metric=None, mode=None)
        self.cells = [dict(c) for c in cells]
        self.on_group = on_group
        self.next = 0
        self.opened: set[str] = set()

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the cells are the whole space

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.next >= len(self.cells):
            return Searcher.FINISHED
        cell = self.cells[self.next]
        self.next += 1
        key = group_key(cell)
        if self.on_group is not None and FOLD in cell and key not in self.opened:
            self.on_group(cell)
            self.opened.add(key)
        return dict(cell)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"next": self.next, "opened": self.opened}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        self.next, self.opened = state["next"], state["opened"]


class _Point:
    """One sampled point's folds: which Tune trial is which fold, their curves and their ends. ``seq``
    keys it for the inner searcher; ``number`` (the Optuna trial number) names it in Tune and MLflow."""

    def __init__(self, seq: int, number: int, params: dict[str, Any], folds: Sequence[int]) -> None:
        self.seq, self.number, self.params, self.folds = seq, number, params, list(folds)
        self.pending = list(folds)  # folds not yet handed to Tune
        self.dropped: list[int] = []  # folds never trained: the point was stopped or failed first
        self.trials: dict[str, int] = {}  # Tune trial id -> fold
        self.curves: dict[int, dict[int, Any]] = {f: {} for f in folds}  # fold -> step -> value
        self.ends: dict[int, tuple[dict[str, Any] | None, bool]] = {}  # fold -> (last result, error)
        self.told_steps: set[int] = set()

    @property
    def inner_id(self) -> str:
        return f"point-{self.seq}"

    def mean_at(self, step: int) -> float | None:
        """The mean over folds at ``step``, once every fold reported it (an ended fold counts with its
        last value); None while a fold has not got there."""
        values = []
        for f in self.folds:
            curve = self.curves[f]
            if step in curve:
                values.append(curve[step])
            elif f in self.ends and curve and max(curve) < step:
                values.append(curve[max(curve)])
            else:
                return None
        return fold_mean([float(v) for v in values])


class FoldSearcher(Searcher):
    """Wraps an Optuna searcher (``self.searcher``, as Tune's searcher wrappers do, so that Tune saves
    and restores both): each sampled point becomes one Tune trial per fold, and the inner searcher sees
    only fold means, under its own trial ids ``point-<n>``."""

    def __init__(
        self, searcher: Searcher, folds: Sequence[int], on_group: GroupHook | None = None, points: int | None = None,
        constants: Mapping[str, Any] | None = None,
    ) -> None:
        self.searcher = searcher
        self.folds = list(folds)
        self.constants = dict(constants or {})  # the Tune config's fixed keys (variant, dataset, seed)
        self.budget = points  # sampled points at most (Tune's num_samples counts fold trials)
        self.on_group = on_group
        self.points: dict[int, _Point] = {}
        self.of_trial: dict[str, int] = {}  # Tune trial id -> point number
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    # -- what Tune calls ------------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        from ray.tune.search.util import _set_search_properties_backwards_compatible

        ok = _set_search_properties_backwards_compatible(self.searcher.set_search_properties, metric, mode,
                                                         config, **spec)
        self._metric, self._mode = self.searcher.metric, self.searcher.mode
        return ok

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return False  # the ConcurrencyLimiter counts fold trials, which is what runs at once

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        point = next((p for p in self.points.values() if p.pending), None)
        if point is None:
            seq = len(self.points)
            if self.budget is not None and seq >= self.budget:
                return Searcher.FINISHED  # every point handed out (a stopped point's folds are dropped)
            params = self.searcher.suggest(f"point-{seq}")
            if params is None or params == Searcher.FINISHED:
                return params
            number = getattr(self.searcher, "optuna_number", lambda _: None)(f"point-{seq}")
            point = self.points[seq] = _Point(seq, seq if number is None else number, dict(params), self.folds)
        fold = point.pending.pop(0)
        point.trials[trial_id] = fold
        self.of_trial[trial_id] = point.seq
        config = {**point.params, FOLD: fold, POINT: point.number}
        if self.on_group is not None and fold == point.folds[0]:
            self.on_group({**self.constants, **config})
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        point = self._point(trial_id)
        if point is None or result.get(FINAL) or isinstance(self.metric, list) or self.metric not in result:
            return  # the final report repeats the last epoch; multi-objective studies get no curves
        step = int(result.get(TIME_ATTR, result.get(TRAINING_ITERATION, 0)))
        point.curves[point.trials[trial_id]][step] = result[self.metric]
        self._report_means(point)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        point = self._point(trial_id)
        if point is None:
            return
        fold = point.trials[trial_id]
        if result and not isinstance(self.metric, list) and self.metric in result and not result.get(FINAL):
            step = int(result.get(TIME_ATTR, result.get(TRAINING_ITERATION, 0)))
            point.curves[fold].setdefault(step, result[self.metric])
        point.ends[fold] = (dict(result) if result else None, error)
        if error or not (result and result.get(FINAL)):  # stopped or failed: its other folds never train
            point.dropped += point.pending
            point.pending = []
        self._report_means(point)
        if len(point.ends) + len(point.dropped) == len(point.folds):
            self._tell(point)

    # -- fold means to the inner searcher ----------------------------------------------------------------
    def _point(self, trial_id: str) -> _Point | None:
        number = self.of_trial.get(trial_id)
        return self.points.get(number) if number is not None else None

    def _report_means(self, point: _Point) -> None:
        steps = sorted({s for c in point.curves.values() for s in c} - point.told_steps)
        for step in steps:
            mean = point.mean_at(step)
            if mean is None:
                break  # later steps cannot be complete before this one
            point.told_steps.add(step)
            self.searcher.on_trial_result(point.inner_id, {self.metric: mean, TRAINING_ITERATION: step,
                                                           TIME_ATTR: step})

    def _tell(self, point: _Point) -> None:
        ends = [point.ends.get(f, (None, False)) for f in point.folds]  # a dropped fold: no result
        if any(error for _, error in ends):
            self.searcher.on_trial_complete(point.inner_id, result=None, error=True)
            return
        results = [r for r, _ in ends]
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        finished = all(r is not None and r.get(FINAL) for r in results)
        out: dict[str, Any] = {FINAL: True} if finished else {}
        for m in metrics:
            if finished:
                out[m] = fold_mean([float(r[m]) for r in results])  # type: ignore[index]
            else:  # stopped: the mean at the last step every fold reached (what the scheduler saw)
                told = sorted(point.told_steps)
                out[m] = point.mean_at(told[-1]) if told and not isinstance(self.metric, list) else None
        step = max(point.told_steps, default=0)
        out.update({TRAINING_ITERATION: step, TIME_ATTR: step})
        if not finished and out.get(metrics[0]) is None:
            self.searcher.on_trial_complete(point.inner_id, result=None, error=False)  # pruned, no curve
            return
        self.searcher.on_trial_complete(point.inner_id, result=out, error=False)

    # -- Tune's checkpoints ------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"points": self.points, "of_trial": self.of_trial}

    def set_state(self, state: dict[str, Any]) -> None:
        self.points, self.of_trial = state["points"], state["of_trial"]


class FoldScheduler(TrialScheduler):
    """Wraps an early-stopping scheduler (ASHA, the median rule) for a fold axis; ``rule`` says what it
    compares:

    * ``per_fold`` (default): one copy of the scheduler per fold index. Fold f of a point is judged
      against fold f of the other points (the same training subjects), as soon as it reports; a STOP on
      any fold stops the point. It works at any concurrency: with fewer slots than folds a point's first
      fold decides, and a stopped point's later folds never train.
    * ``mean``: the scheduler sees one curve per point, the mean over its folds, under the point's first
      fold trial, and decides at epoch e once every fold has reported e. It needs the folds to train side
      by side (concurrency >= folds) to act at all.

    Either way a STOP stops every fold of the point (Tune stops the running ones at once; the searcher
    never hands out the rest), and a decision is honoured only while no fold of the point has finished
    or reported its last epoch, so a stopped point never has a finished fold.
    """

    def __init__(self, inner: TrialScheduler, metric: str, fold_counts: Mapping[str, int], last_epoch: int,
                 rule: str = "per_fold") -> None:
        super().__init__()
        self.inner, self.fold_metric, self.last_epoch, self.rule = inner, metric, last_epoch, rule
        self.fold_counts = dict(fold_counts)  # dataset key -> folds per group
        self.per_fold: dict[int, TrialScheduler] = {}  # rule per_fold: fold index -> its own scheduler
        # group key -> its first trial (what a mean-rule scheduler sees), trials, curves, ended, decided
        self.groups: dict[str, dict[str, Any]] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, **spec)

    def _group(self, trial: Trial) -> dict[str, Any]:
        key = group_key(trial.config)
        g = self.groups.setdefault(key, {"rep": trial, "trials": {}, "curves": {}, "ended": set(), "stopped": False,
                                         "decided": set()})
        g["trials"][trial.trial_id] = trial
        g["curves"].setdefault(trial.trial_id, {})
        return g

    def _fold_count(self, trial: Trial) -> int:
        return self.fold_counts.get(trial.config.get("dataset"), 1)

    def _judge(self, trial: Trial) -> TrialScheduler | None:
        """The scheduler that sees ``trial``: its fold's (per_fold), or the inner one for the group's
        first trial (mean; None for the other folds, which it never sees)."""
        if self.rule == "per_fold":
            fold = int(trial.config.get(FOLD) or 0)
            if fold not in self.per_fold:
                self.per_fold[fold] = copy.deepcopy(self.inner)
            return self.per_fold[fold]
        return self.inner if self._group(trial)["rep"] is trial else None

    def _stop_group(self, tune_controller: Any, g: dict[str, Any], but: Trial) -> None:
        g["stopped"] = True
        for other in g["trials"].values():
            if other is not but and other.status in (Trial.RUNNING, Trial.PENDING, Trial.PAUSED):
                tune_controller.request_stop_trial(other)

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self._group(trial)
        judge = self._judge(trial)
        if judge is not None:
            judge.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        g = self._group(trial)
        if g["stopped"]:
            return TrialScheduler.STOP
        if self.fold_metric not in result or TIME_ATTR not in result:
            return TrialScheduler.CONTINUE
        step = int(result[TIME_ATTR])
        g["curves"][trial.trial_id][step] = float(result[self.fold_metric])
        curves = list(g["curves"].values())
        finishing = bool(g["ended"]) or any(c and max(c) >= self.last_epoch for c in curves)
        if self.rule == "per_fold":
            decision = self._judge(trial).on_trial_result(tune_controller, trial, result)  # type: ignore[union-attr]
        else:
            if len(curves) < self._fold_count(trial) or step in g["decided"] or not all(step in c for c in curves):
                return TrialScheduler.CONTINUE  # the point's mean curve at this step is not complete yet
            g["decided"].add(step)
            mean = fold_mean([c[step] for c in curves])
            decision = self.inner.on_trial_result(tune_controller, g["rep"], {**result, self.fold_metric: mean})
        if decision == TrialScheduler.STOP and finishing:
            return TrialScheduler.CONTINUE  # a fold has finished or is finishing: the point is not stopped
        if decision == TrialScheduler.STOP:
            self._stop_group(tune_controller, g, but=trial)
        return decision

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        g = self._group(trial)
        g["ended"].add(trial.trial_id)
        if self.rule == "per_fold":
            self._judge(trial).on_trial_complete(tune_controller, trial, result)  # type: ignore[union-attr]
            return
        if len(g["ended"]) == self._fold_count(trial):
            last = {**result}
            curves = list(g["curves"].values())
            common = set.intersection(*(set(c) for c in curves)) if curves and all(curves) else set()
            if common:
                step = max(common)
                last.update({self.fold_metric: fold_mean([c[step] for c in curves]), TIME_ATTR: step})
            self.inner.on_trial_complete(tune_controller, g["rep"], last)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        g = self._group(trial)
        g["ended"].add(trial.trial_id)
        self._stop_group(tune_controller, g, but=trial)  # the point cannot be evaluated: no fold trains on
        judge = self._judge(trial)
        if judge is not None:
            judge.on_trial_error(tune_controller, trial)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        g = self._group(trial)
        g["ended"].add(trial.trial_id)
        judge = self._judge(trial)
        if judge is not None:
            judge.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        return self.inner.choose_trial_to_run(tune_controller)

    def debug_string(self) -> str:
        return f"{self.rule} over folds: {self.inner.debug_string()}"
