"""TrialTracker's per-epoch writes against a real SQLite MLflow store: buffered up to ``every_s``,
always complete after ``flush`` (which runs before a checkpoint and at the trial's end)."""

from __future__ import annotations

from hartune.tracking import runs
from hartune.tracking.trial import TrialTracker


def tracker(tmp_path, every_s: float) -> TrialTracker:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    c = runs.client(uri)
    exp = runs.ensure_experiment(c, "tracker")
    stage = runs.start_run(c, exp, "stage", "stage")
    return TrialTracker.open(uri, exp, stage, "trial_0001", "t", {"lr": 0.1}, {"hartune.stage": "s"}, every_s=every_s)


def steps(t: TrialTracker, key: str = "val_f1_macro") -> list[int]:
    return sorted(m.step for m in t.client.get_metric_history(t.run_id, key))


def test_buffered_epochs_reach_mlflow_on_flush_with_their_steps(tmp_path) -> None:
    t = tracker(tmp_path, every_s=3600.0)
    for epoch in (1, 2, 3):
        t.on_epoch_end(epoch, {"val_f1_macro": 0.1 * epoch, "train_loss": 1.0 / epoch, "flag": True})
    assert steps(t) == []  # nothing written within the interval
    t.flush()
    assert steps(t) == [1, 2, 3] and steps(t, "train_loss") == [1, 2, 3]
    assert [m.value for m in sorted(t.client.get_metric_history(t.run_id, "val_f1_macro"), key=lambda m: m.step)] \
        == [0.1, 0.2, 0.1 * 3]
    assert t.client.get_metric_history(t.run_id, "flag") == []  # booleans are not metrics
    t.flush()  # idempotent: nothing is written twice
    assert steps(t) == [1, 2, 3]


def test_every_s_zero_writes_each_epoch_as_it_ends(tmp_path) -> None:
    t = tracker(tmp_path, every_s=0.0)
    t.on_epoch_end(1, {"val_f1_macro": 0.5})
    assert steps(t) == [1]
    t.on_epoch_end(2, {"val_f1_macro": 0.6})
    assert steps(t) == [1, 2]


def test_fail_writes_the_buffer_before_closing_the_run(tmp_path) -> None:
    t = tracker(tmp_path, every_s=3600.0)
    t.on_epoch_end(1, {"val_f1_macro": 0.5})
    t.fail(RuntimeError("boom"))
    run = t.client.get_run(t.run_id)
    assert run.info.status == "FAILED" and run.data.tags["hartune.error"] == "RuntimeError: boom"
    assert steps(t) == [1]
