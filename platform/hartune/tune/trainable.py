"""The Ray Tune trainable: resolve the trial's run config, call the one recipe, report the epochs that
something reads (``TuneReporter``)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hartune.overlays import deep_merge, flatten, unflatten
from hartune.tune.outcomes import FINAL, FOLD, TUNE_KEYS, SpecView

if TYPE_CHECKING:
    from hartune.train import RunConfig


@dataclass(frozen=True)
class StageContext:
    """Everything a trial needs besides its Tune config; shipped once via ``tune.with_parameters``."""

    spec: SpecView
    stage: str
    overlays: dict[str, dict[str, Any]]  # variant -> partial run config (from_stage best merged in)
    sealed_uri: str  # the tracking URI without its password (hartune.tracking.secrets); `uri` is the real one
    experiment_id: str
    stage_run: str
    spec_text: str
    log_models: str
    metrics_every_s: float  # the spec's tracking.metrics_every_s
    tags: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    generator_root: str = ".hartune/generators"  # absolute on the driver: trials run in their own folders
    retry_s: float = 120.0  # the spec's tracking.retry_s: how long a tracking outage is waited out
    data_store: str | None = None  # the run's data store actor (hartune.tune.datastore); None: prepare here
    judged_epochs: frozenset[int] | None = None  # epochs the scheduler reads (TuneReporter); None: every epoch

    @property
    def uri(self) -> str:
        """The tracking URI, password included (taken back from the cluster's key-value store)."""
        from hartune.tracking.secrets import unseal

        return unseal(self.sealed_uri)

    def run_config(self, config: dict[str, Any]) -> RunConfig:
        point = {k: v for k, v in config.items() if k not in TUNE_KEYS}
        overlay = deep_merge(self.overlays[config["variant"]], unflatten(point))
        overlay = deep_merge(overlay, {"train": {"num_threads": self.threads}})
        return self.spec.run_config(
            config["dataset"], overlay, config["seed"], f"trial {config}", fold=config.get(FOLD)
        )


STATE_FILE = "state.pt"  # a per-epoch checkpoint: the recipe's snapshot (hartune.train.recipe)


class CheckpointError(ValueError):
    """A trial checkpoint that is refused: corrupt (checksum) or holding a type off the allow-list.
    ``str()`` is one line naming the file; the trial fails with it instead of training from a bad state."""


def snapshot_globals() -> list[Any]:
    """The allow-list for ``torch.load(weights_only=True)`` of a recipe snapshot: besides tensors, dicts,
    lists and numbers (always allowed), it holds the loop's ``LoopState`` and NumPy's RNG state
    (``np.random.get_state()``: an ndarray of uint32). Nothing else unpickles, so a checkpoint on shared
    storage written by someone else cannot run code when a trial resumes from it."""
    import numpy as np
    from numpy._core.multiarray import _reconstruct  # what an ndarray pickles through (NumPy 2)

    from hartune.train.recipe import LoopState

    return [LoopState, _reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def save_state(state: dict[str, Any], folder: Path) -> Path:
    """``<folder>/state.pt`` and its checksum ``state.pt.sha256`` (hartune.integrity)."""
    import torch

    from hartune.integrity import write_checksum

    path = folder / STATE_FILE
    torch.save(state, path)
    write_checksum(path)
    return path


def load_state(path: Path) -> dict[str, Any]:
    """A snapshot written by ``save_state``: checked against its checksum, then read with
    ``weights_only=True`` and only ``snapshot_globals()`` allowed. Raises ``CheckpointError`` (one line)."""
    import pickle

    import torch

    from hartune.integrity import CorruptFile, verify

    try:
        verify(path)
    except CorruptFile as e:
        raise CheckpointError(f"refusing the checkpoint {e}") from None
    allowed = snapshot_globals()
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ModuleNotFoundError) as e:
        names = {f"{g.__module__}.{g.__qualname__}" for g in allowed}
        try:
            foreign = [
                g for g in torch.serialization.get_unsafe_globals_in_checkpoint(path) if g not in names
            ]
        except Exception:  # noqa: BLE001 - only for the message
            foreign = []
        what = f"holds {', '.join(foreign)}" if foreign else f"does not load ({type(e).__name__})"
        raise CheckpointError(
            f"refusing the checkpoint {path}: it {what}, not on the allow-list "
            f"(tensors, containers, numbers, {', '.join(sorted(names))})"
        ) from None


CHECKPOINT_EVERY_S = 30.0  # at most one per-epoch checkpoint per this many seconds of training


class TuneReporter:
    """Recipe callback: ``tune.report`` with ``epoch`` as the schedulers' time axis and the recipe's
    snapshot as the checkpoint, so a restored trial continues after its last epoch.

    A report is a round trip through the driver's Tune loop, so an epoch is reported only when something
    reads it: an epoch in ``judged`` (the scheduler's: ASHA's rungs; None: every epoch), a checkpoint,
    or the live view, which gets the first epoch and then one at most every ``view_every_s``. Short
    epochs are checkpointed at most every ``every_s`` seconds (the first epoch always): a resume then
    repeats at most that much training, and quick trials do not pay a write per epoch."""

    def __init__(self, judged: frozenset[int] | None = None, view_every_s: float = 0.0,
                 every_s: float = CHECKPOINT_EVERY_S, before_checkpoint: Callable[[], bool | None] | None = None) -> None:
        import time

        self.judged, self.view_every_s = judged, view_every_s
        self.every_s, self.last = every_s, time.monotonic() - every_s
        self.last_report = float("-inf")
        self.before_checkpoint = before_checkpoint  # e.g. write the tracker's buffered metrics (False: not yet)

    def on_epoch_end(
        self, epoch: int, metrics: dict[str, float], snapshot: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        """Without a ``snapshot`` (a model fitted once, e.g. a random forest) a report without a checkpoint."""
        import time

        from ray import tune

        now = time.monotonic()
        checkpoint_due = snapshot is not None and now - self.last >= self.every_s
        judged = self.judged is None or epoch in self.judged
        if not (checkpoint_due or judged or now - self.last_report >= self.view_every_s):
            return  # nothing reads this epoch (MLflow gets it from the tracker)
        self.last_report = now
        if not checkpoint_due:
            tune.report({**metrics, "epoch": epoch})
            return
        if self.before_checkpoint is not None and self.before_checkpoint() is False:
            # the store is out and this epoch's metrics are not in it yet: a checkpoint now would claim
            # epochs that a resume could not find in MLflow, so it waits for the next epoch
            tune.report({**metrics, "epoch": epoch})
            return
        self.last = time.monotonic()
        with tempfile.TemporaryDirectory() as d:
            save_state(snapshot(), Path(d))
            tune.report({**metrics, "epoch": epoch}, checkpoint=tune.Checkpoint.from_directory(d))


def resume_state() -> dict[str, Any] | None:
    """The snapshot of this trial's last epoch when Tune restarts it (a retry, a resumed run); a corrupt
    or foreign one raises ``CheckpointError`` (the trial fails with that one line as its reason)."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        path = Path(d) / STATE_FILE
        return load_state(path) if path.exists() else None


def report_if_done(ctx: StageContext, parent: str, trial_id: str) -> bool:
    """Exactly once: a trial whose MLflow run already FINISHED (Tune replays it after a resume when it
    ended after the last experiment-state snapshot) is not trained again; its final metrics are read
    back from MLflow and reported as its final result."""
    from ray import tune

    from hartune.tracking import runs

    c = runs.client(ctx.uri, ctx.retry_s)
    found = runs.find_trial_run(c, ctx.experiment_id, parent, trial_id)
    if found is None:
        return False
    run = c.get_run(found)
    if run.info.status != "FINISHED":
        return False
    metrics = dict(run.data.metrics)
    val = {k.removeprefix("best_"): v for k, v in metrics.items() if k.startswith("best_val_")}
    tune.report({**metrics, **val, "epoch": int(metrics.get("best_epoch", 0)), FINAL: True})
    return True


def run_trial(config: dict[str, Any], ctx: StageContext) -> None:
    from ray import tune

    from hartune import progress
    from hartune.augment.source import CachedGenerators
    from hartune.tracking import runs
    from hartune.tracking.trial import TrialTracker, log_dataset_input, save_checkpoint
    from hartune.train import train
    from hartune.tune.datastore import shared_data
    from hartune.tune.progress import TrialFileSink

    trial_id = tune.get_context().get_trial_id()
    progress.set_sink(TrialFileSink(tune.get_context().get_trial_dir()))  # the driver's live view reads it
    # a fold trial hangs under its group's run, which the driver opened before the trial existed
    parent = runs.trial_parent(runs.client(ctx.uri, ctx.retry_s), ctx.experiment_id, ctx.stage_run, config)
    if report_if_done(ctx, parent, trial_id):
        return
    run_cfg = ctx.run_config(config)
    shared = shared_data(ctx.data_store, run_cfg.data)  # one copy per node, read-only, zero-copy
    data = shared.data
    params = {**flatten(run_cfg.model_dump(mode="json")), "variant": config["variant"], "dataset_key": config["dataset"],
              "stage": ctx.stage, **{f"space.{k}": v for k, v in config.items() if "." in k}}
    tags = {**runs.trial_tags(ctx.stage, str(config["variant"])), **ctx.tags}
    if config.get(FOLD) is not None:
        tags.update({runs.FOLD_TAG: str(config[FOLD]), runs.GROUP_TAG: runs.group_key(config)})
    tags[runs.DATA_OBJECT_TAG] = shared.object_id or "local"
    if "test_subjects" in data.info:
        tags[runs.TEST_SUBJECTS_TAG] = ",".join(map(str, data.info["test_subjects"]))  # type: ignore[arg-type]
    tracker = TrialTracker.open(ctx.uri, ctx.experiment_id, parent, trial_id, runs.trial_name(config), params, tags,
                                every_s=ctx.metrics_every_s, retry_s=ctx.retry_s)
    log_dataset_input(tracker.client, tracker.run_id, str(config["dataset"]), data, run_cfg.data.dataset)
    try:
        result = train(run_cfg, data=data, callbacks=[tracker, TuneReporter(ctx.judged_epochs, ctx.metrics_every_s, before_checkpoint=tracker.flush_now)], generators=CachedGenerators(ctx.generator_root),
                       resume=resume_state())
        runs.set_tags(tracker.client, tracker.run_id, {runs.DATA_CHECKSUM_TAG: shared.verify()})
        with tempfile.TemporaryDirectory() as d:
            save_checkpoint(result, Path(d))
            final = tracker.finish(result, ctx.spec_text, log_model=ctx.log_models == "all")
            val = {f"val_{k}": v for k, v in result.val.items()}  # the best epoch's, for the searcher
            val["latency_ms"] = result.history[-1]["latency_ms"]  # an objective too (reported each epoch)
            tune.report(
                {**final, **val, "epoch": len(result.history), FINAL: True},
                checkpoint=tune.Checkpoint.from_directory(d),
            )
    except Exception as e:
        tracker.fail(e)
        raise
    except BaseException:  # Tune stopping the trial (a scheduler's call): its buffered metrics still land
        with contextlib.suppress(Exception):
            tracker.flush()
        raise
