"""TuneReporter, the recipe callback: a checkpoint only when the trainer hands it a snapshot, and then at
most once per ``every_s`` (the first always); otherwise a plain report. No Ray session needed."""

from __future__ import annotations


def test_checkpoints_need_a_snapshot_and_keep_their_cadence(monkeypatch) -> None:
    from ray import tune

    from hartune.tune.trainable import TuneReporter

    reports: list[tuple[int, bool]] = []
    def report(metrics: dict, checkpoint=None) -> None:
        reports.append((metrics["epoch"], checkpoint is not None))

    monkeypatch.setattr(tune, "report", report)
    flushed: list[int] = []
    r = TuneReporter(every_s=3600.0, before_checkpoint=lambda: flushed.append(1))
    r.on_epoch_end(1, {"val_f1_macro": 0.5})  # fitted once (a forest): nothing to snapshot
    r.on_epoch_end(1, {"val_f1_macro": 0.5}, lambda: {"epoch": 1})  # the first snapshot is written
    r.on_epoch_end(2, {"val_f1_macro": 0.6}, lambda: {"epoch": 2})  # within every_s: a plain report
    assert reports == [(1, False), (1, True), (2, False)] and flushed == [1]
