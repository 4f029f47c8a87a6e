"""The fold axis's searcher and scheduler (``hartune.tune.cv``), driven the way Ray Tune drives them.

Every registered Optuna sampler runs inside a real ``PrunedAwareOptunaSearch`` wrapped in the
``FoldSearcher``; the test plays Tune's part (suggest, per-epoch results, completion) with results it
computes itself, so it knows what every Optuna trial's value must be: the mean over the point's folds.
The scheduler runs a real ASHA inside the ``FoldScheduler``; a recording controller stands in for
Tune's (only ``request_stop_trial`` is used). ``tests/tune/test_cv_run.py`` runs the same pieces under
real Ray Tune and MLflow.
"""

from __future__ import annotations

import statistics

import optuna
import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from hartune.tune.cv import CellSearcher, FoldScheduler, FoldSearcher
from hartune.tune.samplers import SAMPLERS
from hartune.tune.schedulers import AshaConfig
from hartune.tune.search import FINAL, make_searcher
from hartune.tune.space import load_space

FOLDS = [0, 1, 2]
EPOCHS = 3
RANGE = {"train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
         "model.dropout": {"type": "float", "low": 0.0, "high": 0.5}}
GRID = {"train.lr": {"type": "grid", "values": [1e-3, 3e-3]}, "model.dropout": {"type": "grid", "values": [0.1, 0.3]}}


def value(config: dict, epoch: int, metric: str = "val_f1_macro") -> float:
    """A made-up but config-, fold- and epoch-dependent score."""
    base = config["train.lr"] * 50 + config["model.dropout"] + 0.05 * config["fold"] + 0.01 * epoch
    return base if metric == "val_f1_macro" else 1000.0 * (1 + config["fold"]) + base


def run_search(name: str, metrics: list[str], points: int) -> tuple[optuna.Study, dict[int, list[dict]]]:
    modes = ["max", "min"][: len(metrics)]
    space = load_space(GRID if name == "grid" else RANGE, None, "space")  # type: ignore[arg-type]
    metric, mode = (metrics[0], modes[0]) if len(metrics) == 1 else (metrics, modes)
    inner = make_searcher(name, 0, space, metric=metric, mode=mode)
    searcher = FoldSearcher(inner, FOLDS)
    searcher.set_search_properties(None, None, {} if name == "grid" else space.to_tune())
    finals: dict[int, list[dict]] = {}
    for n in range(points * len(FOLDS)):
        config = searcher.suggest(f"t{n}")
        assert isinstance(config, dict) and config["fold"] == FOLDS[n % len(FOLDS)]
        for epoch in range(1, EPOCHS + 1):
            searcher.on_trial_result(f"t{n}", {m: value(config, epoch, m) for m in metrics} | {"epoch": epoch,
                                     "training_iteration": epoch})
        final = {m: value(config, EPOCHS, m) for m in metrics} | {"epoch": EPOCHS, "training_iteration": EPOCHS + 1,
                                                                    FINAL: True}
        searcher.on_trial_complete(f"t{n}", result=final)
        finals.setdefault(config["point"], []).append(final)
    return inner._ot_study, finals


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_every_sampler_sees_one_trial_per_point_valued_at_the_fold_mean(name: str) -> None:
    study, finals = run_search(name, ["val_f1_macro"], points=4)
    assert len(study.trials) == 4 and all(t.state.name == "COMPLETE" for t in study.trials)
    for t in study.trials:
        folds = finals[t.number]
        assert len(folds) == len(FOLDS)
        assert t.value == pytest.approx(statistics.fmean(f["val_f1_macro"] for f in folds))
        # per epoch, the curve Optuna holds is the mean over the folds
        for epoch, mean in t.intermediate_values.items():
            point = {"train.lr": t.params["train.lr"], "model.dropout": t.params["model.dropout"]}
            assert mean == pytest.approx(statistics.fmean(value({**point, "fold": f}, epoch) for f in FOLDS))


def test_nsga2_on_two_objectives_gets_both_fold_means() -> None:
    study, finals = run_search("nsga2", ["val_f1_macro", "num_parameters"], points=3)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    for t in study.trials:
        assert t.values == pytest.approx([statistics.fmean(f[m] for f in finals[t.number])
                                          for m in ("val_f1_macro", "num_parameters")])


def test_a_failed_fold_fails_the_point_and_a_stopped_one_prunes_it() -> None:
    space = load_space(RANGE, None, "space")  # type: ignore[arg-type]
    inner = make_searcher("random", 0, space, metric="val_f1_macro", mode="max")
    searcher = FoldSearcher(inner, FOLDS)
    searcher.set_search_properties(None, None, space.to_tune())
    ids = {}
    for n in range(6):
        ids[n] = searcher.suggest(f"t{n}")
        searcher.on_trial_result(f"t{n}", {"val_f1_macro": 0.5, "epoch": 1, "training_iteration": 1})
    for n in range(3):  # point 0: one fold errors
        searcher.on_trial_complete(f"t{n}", result=None, error=n == 1)
    for n in range(3, 6):  # point 1: stopped after epoch 1 (no final report)
        searcher.on_trial_complete(f"t{n}", result={"val_f1_macro": 0.5, "epoch": 1, "training_iteration": 1})
    states = [t.state.name for t in inner._ot_study.trials]
    assert states == ["FAIL", "PRUNED"]
    assert inner._ot_study.trials[1].intermediate_values == {1: 0.5}


def test_cells_are_handed_out_once_in_order_and_groups_opened_once() -> None:
    opened = []
    cells = [{"variant": v, "dataset": "w", "seed": 0, "fold": f} for v in "AB" for f in FOLDS]
    s = CellSearcher(cells, opened.append)
    got = [s.suggest(f"t{i}") for i in range(len(cells) + 1)]
    assert got[:-1] == cells and got[-1] == "FINISHED"
    assert [(c["variant"], c["fold"]) for c in opened] == [("A", 0), ("B", 0)]


class Controller:
    """Records the stops a scheduler asks for (what Tune's controller would carry out)."""

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def request_stop_trial(self, trial: Trial) -> None:
        self.stopped.append(trial.trial_id)
        trial.set_status(Trial.TERMINATED)

    def get_trials(self) -> list[Trial]:
        return []


def trials_of(point: int) -> list[Trial]:
    out = []
    for f in FOLDS:
        t = Trial("run_trial", config={"variant": "base", "dataset": "w", "seed": 0, "fold": f, "point": point},
                  trial_id=f"p{point}f{f}", stub=True)
        t.set_status(Trial.RUNNING)
        out.append(t)
    return out


def test_the_scheduler_decides_on_fold_means_and_stops_every_fold() -> None:
    asha = AshaConfig(grace_period=1, reduction_factor=2).build("val_f1_macro", "max", max_t=4)
    sched = FoldScheduler(asha, "val_f1_macro", {"w": len(FOLDS)}, last_epoch=4, rule="mean")
    ctl = Controller()
    good, bad = trials_of(0), trials_of(1)
    for t in good + bad:
        sched.on_trial_add(ctl, t)
    r = lambda v: {"val_f1_macro": v, "epoch": 1}
    # the good point's folds: no decision until the last fold reports epoch 1, then it continues
    assert [sched.on_trial_result(ctl, t, r(v)) for t, v in zip(good, (0.6, 0.7, 0.8))] == ["CONTINUE"] * 3
    # the bad point: one fold far above the good point's mean, but its mean is below: all folds stop
    assert sched.on_trial_result(ctl, bad[0], r(0.95)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(ctl, bad[1], r(0.05)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(ctl, bad[2], r(0.05)) == TrialScheduler.STOP
    assert sorted(ctl.stopped) == ["p1f0", "p1f1"]  # the two siblings; the third got STOP itself
    assert all(t.status == Trial.RUNNING for t in good)


def test_no_decision_once_a_fold_reported_its_last_epoch() -> None:
    """A fold at its last epoch is about to finish: stopping its point then would leave a finished fold."""
    asha = AshaConfig(grace_period=1, reduction_factor=2).build("val_f1_macro", "max", max_t=4)
    sched = FoldScheduler(asha, "val_f1_macro", {"w": len(FOLDS)}, last_epoch=4, rule="mean")
    ctl = Controller()
    good, late = trials_of(0), trials_of(1)
    for t in good + late:
        sched.on_trial_add(ctl, t)
    for t in good:
        sched.on_trial_result(ctl, t, {"val_f1_macro": 0.9, "epoch": 1})
    sched.on_trial_result(ctl, late[0], {"val_f1_macro": 0.1, "epoch": 1})
    sched.on_trial_result(ctl, late[0], {"val_f1_macro": 0.1, "epoch": 4})  # far ahead: its last epoch
    sched.on_trial_result(ctl, late[1], {"val_f1_macro": 0.1, "epoch": 1})
    assert sched.on_trial_result(ctl, late[2], {"val_f1_macro": 0.1, "epoch": 1}) == TrialScheduler.CONTINUE
    assert ctl.stopped == []


def test_no_decision_once_a_fold_has_ended() -> None:
    """A stopped point never has a finished fold: once one ended, its remaining rungs are skipped."""
    asha = AshaConfig(grace_period=1, reduction_factor=2).build("val_f1_macro", "max", max_t=4)
    sched = FoldScheduler(asha, "val_f1_macro", {"w": len(FOLDS)}, last_epoch=4, rule="mean")
    ctl = Controller()
    good, late = trials_of(0), trials_of(1)
    for t in good + late:
        sched.on_trial_add(ctl, t)
    for t in good:
        sched.on_trial_result(ctl, t, {"val_f1_macro": 0.9, "epoch": 1})
    sched.on_trial_result(ctl, late[0], {"val_f1_macro": 0.1, "epoch": 1})
    sched.on_trial_complete(ctl, late[0], {"val_f1_macro": 0.1, "epoch": 4, FINAL: True})  # ran to its end
    assert sched.on_trial_result(ctl, late[1], {"val_f1_macro": 0.1, "epoch": 1}) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(ctl, late[2], {"val_f1_macro": 0.1, "epoch": 1}) == TrialScheduler.CONTINUE
    assert ctl.stopped == []




def test_per_fold_rule_judges_fold_f_against_fold_f_and_stops_the_point() -> None:
    asha = AshaConfig(grace_period=1, reduction_factor=2).build("val_f1_macro", "max", max_t=4)
    sched = FoldScheduler(asha, "val_f1_macro", {"w": len(FOLDS)}, last_epoch=4)  # rule per_fold (default)
    ctl = Controller()
    good, bad = trials_of(0), trials_of(1)
    for t in good + bad:
        sched.on_trial_add(ctl, t)
    assert sched.on_trial_result(ctl, good[0], {"val_f1_macro": 0.2, "epoch": 1}) == TrialScheduler.CONTINUE
    # fold 1 of the bad point is compared with fold 1 of the good one only: nothing recorded there yet
    assert sched.on_trial_result(ctl, bad[1], {"val_f1_macro": 0.01, "epoch": 1}) == TrialScheduler.CONTINUE
    # fold 0 of the bad point is below fold 0 of the good one: the whole point stops at once
    assert sched.on_trial_result(ctl, bad[0], {"val_f1_macro": 0.1, "epoch": 1}) == TrialScheduler.STOP
    assert sorted(ctl.stopped) == ["p1f1", "p1f2"]
    assert sched.on_trial_result(ctl, bad[2], {"val_f1_macro": 0.9, "epoch": 1}) == TrialScheduler.STOP


def test_a_stopped_point_gives_up_its_untrained_folds_and_the_budget_is_in_points() -> None:
    space = load_space(RANGE, None, "space")  # type: ignore[arg-type]
    inner = make_searcher("random", 0, space, metric="val_f1_macro", mode="max")
    searcher = FoldSearcher(inner, FOLDS, points=2)
    searcher.set_search_properties(None, None, space.to_tune())
    first = searcher.suggest("t0")
    assert first["point"] == 0 and first["fold"] == 0
    searcher.on_trial_result("t0", {"val_f1_macro": 0.1, "epoch": 1, "training_iteration": 1})
    searcher.on_trial_complete("t0", result={"val_f1_macro": 0.1, "epoch": 1})  # stopped after epoch 1
    second = searcher.suggest("t1")  # point 0's folds 1 and 2 never train: the next point starts
    assert second["point"] == 1 and second["fold"] == 0
    assert [t.state.name for t in inner._ot_study.trials] == ["PRUNED", "RUNNING"]
    for n in (1, 2, 3):
        if n > 1:
            assert searcher.suggest(f"t{n}")["fold"] == n - 1
        final = {"val_f1_macro": 0.5, "epoch": 4, "training_iteration": 5, FINAL: True}
        searcher.on_trial_complete(f"t{n}", result=final)
    assert searcher.suggest("t4") == "FINISHED"  # two points, the budget
    assert [t.state.name for t in inner._ot_study.trials] == ["PRUNED", "COMPLETE"]
