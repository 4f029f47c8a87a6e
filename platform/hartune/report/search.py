"""Search reports: an in-memory Optuna study rebuilt from a stage's trial runs, its importances and plots.

Each trial run holds its sampled point as ``space.<path>`` params and its final metrics; a finished
trial enters the study as COMPLETE with the value the searcher saw (``best_val_*``: the best epoch's
validation metric), a trial stopped early by a scheduler as PRUNED with its per-epoch curve. The
distributions come from the search space logged on the stage (or step) run (``stage.space.*`` params of
an inline space, or the ``stage.space`` file when it can be read here); failing both, they are
reconstructed from the sampled values (a numeric range, log-scaled when it spans two decades or more,
or the categories seen), and the report says so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import yaml
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hartune.registry import ConfigError

if TYPE_CHECKING:
    from hartune.tracking.runs import TrialRecord

SPACE_FIELDS = ("type", "low", "high", "log", "step", "choices", "values")


def _value(text: str) -> Any:
    if text == "None":
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def logged_space(stage_params: Mapping[str, str]) -> dict[str, dict[str, Any]] | None:
    """An inline search space back from the stage run's flattened ``stage.space.<name>.<field>`` params."""
    space: dict[str, dict[str, Any]] = {}
    for key, text in stage_params.items():
        if not key.startswith("stage.space.") or "." not in key.removeprefix("stage.space."):
            continue
        name, fld = key.removeprefix("stage.space.").rsplit(".", 1)
        if fld in SPACE_FIELDS and (v := _value(text)) is not None:
            space.setdefault(name, {})[fld] = v
    return space or None


def space_distributions(
    stage_params: Mapping[str, str], trials: Sequence[TrialRecord], search_dirs: Sequence[Path] = (Path.cwd(),),
) -> tuple[dict[str, BaseDistribution], str]:
    """``space.<name>`` -> distribution, and where they came from (for the report)."""
    from hartune.tune.space import load_space

    source = logged_space(stage_params) or stage_params.get("stage.space")
    if isinstance(source, dict):
        space = load_space(source, Path.cwd(), prefix="stage.space")
        return {f"space.{k}": d for k, d in space.to_optuna().items()}, "the search space logged on the stage run"
    for folder in search_dirs if source and source != "None" else []:
        if (folder / source).is_file():
            try:
                space = load_space(source, folder, prefix="stage.space")
            except ConfigError:
                break
            return {f"space.{k}": d for k, d in space.to_optuna().items()}, f"the search space file {source}"
    return reconstructed(trials), "reconstructed from the sampled values (the space file was not found)"


def reconstructed(trials: Sequence[TrialRecord]) -> dict[str, BaseDistribution]:
    values: dict[str, list[Any]] = {}
    for t in trials:
        for k, text in t.params.items():
            if k.startswith("space."):
                values.setdefault(k, []).append(_value(text))
    out: dict[str, BaseDistribution] = {}
    for k, vs in values.items():
        nums = [v for v in vs if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(nums) == len(vs):
            lo, hi = min(nums), max(nums)
            if all(isinstance(v, int) for v in nums):
                out[k] = IntDistribution(int(lo), int(hi))
            else:
                out[k] = FloatDistribution(float(lo), float(hi), log=lo > 0 and hi / lo >= 100)
        else:
            out[k] = CategoricalDistribution(sorted({str(v) if not isinstance(v, (bool, int, float, str)) else v
                                                     for v in vs}, key=str))
    return out


def _cast(text: str, dist: BaseDistribution) -> Any:
    v = _value(text)
    if isinstance(dist, CategoricalDistribution):
        for choice in dist.choices:
            if choice == v or str(choice) == text:
                return choice
        raise ValueError(f"{text!r} is not one of {dist.choices}")
    return int(v) if isinstance(dist, IntDistribution) else float(v)


def trial_value(t: TrialRecord, metric: str) -> float | None:
    """What the searcher saw: the best epoch's ``val_*`` (``best_val_*``), else the metric itself."""
    v = t.metrics.get(f"best_{metric}") if metric.startswith("val_") else None
    v = t.metrics.get(metric) if v is None else v
    return None if v is None or math.isnan(v) else float(v)


def build_study(
    trials: Sequence[TrialRecord], distributions: Mapping[str, BaseDistribution], metric: str, mode: str,
    curves: Mapping[str, Sequence[tuple[int, float]]] | None = None,
) -> optuna.Study:
    """The stage's study, in trial start order: COMPLETE (finished), PRUNED (stopped early, with its
    curve ``curves[run_id]``) or FAIL. Param names keep their ``space.`` prefix off."""
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    for t in sorted(trials, key=lambda t: t.start_time):
        try:
            params = {k.removeprefix("space."): _cast(t.params[k], d) for k, d in distributions.items() if k in t.params}
        except (ValueError, TypeError):
            continue
        dists = {k.removeprefix("space."): d for k, d in distributions.items() if k in t.params}
        value = trial_value(t, metric)
        curve = dict((curves or {}).get(t.run_id, []))
        if t.finished and value is not None:
            state, values = TrialState.COMPLETE, value
        elif t.status == "KILLED":
            state, values = TrialState.PRUNED, None
        else:
            state, values = TrialState.FAIL, None
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists, value=values, state=state,
            intermediate_values={int(s): float(v) for s, v in curve.items() if not math.isnan(v)},
            user_attrs={"mlflow_run_id": t.run_id},
        ))
    return study


def importances(study: optuna.Study) -> tuple[dict[str, float], str]:
    """Optuna's parameter importances (its default evaluator, PED-ANOVA in Optuna 5), and a note when
    they cannot be computed (fewer than 2 complete trials, a single parameter value...)."""
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if len(complete) < 2:
        return {}, f"importances need 2 or more complete trials; the study has {len(complete)}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study)), ""
    except (RuntimeError, ValueError, ZeroDivisionError) as e:
        return {}, f"importances not computed: {e}"


def figures(study: optuna.Study) -> tuple[dict[str, Any], list[str]]:
    """``{file name: matplotlib figure}`` of Optuna's history, importances, parallel-coordinates and
    slice plots; a note for each plot that cannot be drawn."""
    from optuna.visualization import matplotlib as ovm

    plots = {"optimization_history.png": ovm.plot_optimization_history,
             "param_importances.png": ovm.plot_param_importances,
             "parallel_coordinate.png": ovm.plot_parallel_coordinate, "slice.png": ovm.plot_slice}
    from hartune import progress

    out, notes = {}, []
    for name, plot in plots.items():
        try:
            with warnings.catch_warnings(), progress.task(f"drawing {name}"):
                warnings.simplefilter("ignore")
                ax = plot(study)
        except (RuntimeError, ValueError, ZeroDivisionError, IndexError) as e:
            notes.append(f"{name}: not drawn ({e})")
            continue
        first = ax.flat[0] if hasattr(ax, "flat") else ax
        fig = first.figure
        fig.set_size_inches(max(fig.get_size_inches()[0], 6), max(fig.get_size_inches()[1], 4))
        # tight_layout only handles grid axes (it warns on the parallel-coordinates plot's extra ones);
        # the figure is saved with bbox_inches="tight" either way
        if all(ax.get_subplotspec() is not None for ax in fig.axes):
            fig.tight_layout()
        out[name] = fig
    return out, notes
