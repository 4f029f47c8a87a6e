"""Pareto front bookkeeping on hand-made outcomes (maximise accuracy, minimise latency)."""

from hartune.tune.outcomes import TrialOutcome
from hartune.tune.pareto import dominates, pareto_rows
from hartune.tune.search import FINAL


def outcome(tid: str, acc: float, lat: float, status: str = "finished") -> TrialOutcome:
    return TrialOutcome(tid, {"variant": "base", "dataset": "d", "seed": 0, "model.name": tid},
                        {"val_accuracy": acc, "latency_ms": lat, FINAL: True}, status)


def test_dominates_needs_at_least_as_good_everywhere_and_better_somewhere() -> None:
    modes = ["max", "min"]
    assert dominates([0.9, 1.0], [0.8, 2.0], modes)
    assert dominates([0.9, 1.0], [0.9, 2.0], modes)
    assert not dominates([0.9, 1.0], [0.9, 1.0], modes)  # equal: neither dominates
    assert not dominates([0.9, 3.0], [0.8, 2.0], modes)  # a trade-off


def test_front_is_the_non_dominated_finished_trials() -> None:
    outs = [outcome("a", 0.9, 5.0), outcome("b", 0.8, 1.0), outcome("c", 0.7, 2.0),  # c: dominated by b
            outcome("d", 0.95, 9.0), outcome("e", 0.99, 0.1, status="stopped")]  # e never finished
    rows = pareto_rows(outs, ["val_accuracy", "latency_ms"], ["max", "min"])
    assert [(r["trial_id"], r["pareto"]) for r in rows] == [("d", True), ("a", True), ("b", True), ("c", False)]
    assert rows[0]["model.name"] == "d" and rows[0]["latency_ms"] == 9.0
