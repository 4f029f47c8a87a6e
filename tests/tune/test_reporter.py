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


def test_an_epoch_is_reported_only_when_something_reads_it(monkeypatch) -> None:
    """The scheduler's epochs, a due checkpoint, and the live view's (the first epoch, then at most one
    every ``view_every_s``); None for ``judged`` reports every epoch."""
    import time

    from ray import tune

    from hartune.tune.trainable import TuneReporter

    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    reports: list[tuple[int, bool]] = []
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: reports.append((metrics["epoch"], checkpoint is not None)))

    r = TuneReporter(frozenset({3, 6}), view_every_s=10.0, every_s=30.0)
    for epoch in range(1, 9):  # one second per epoch
        r.on_epoch_end(epoch, {"val_f1_macro": 0.5}, lambda: {"epoch": epoch})
        clock[0] += 1.0
    clock[0] += 25.0  # past the view's cadence and the checkpoint's
    r.on_epoch_end(9, {"val_f1_macro": 0.5}, lambda: {"epoch": 9})
    assert reports == [(1, True), (3, False), (6, False), (9, True)]

    reports.clear()
    every = TuneReporter(None, view_every_s=10.0, every_s=30.0)
    for epoch in range(1, 5):
        every.on_epoch_end(epoch, {"val_f1_macro": 0.5})
    assert reports == [(1, False), (2, False), (3, False), (4, False)]
