"""The Ray Tune trainable: resolve the trial's run config, call the one recipe, report every epoch."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hartune.tune.search import FINAL


@dataclass(frozen=True)
class StageContext:
    """Everything a trial needs besides its Tune config; shipped once via ``tune.with_parameters``."""

    spec: Any  # hartune.spec.Spec
    stage: str
    overlays: dict[str, dict[str, Any]]  # variant -> partial run config (from_stage best merged in)
    uri: str
    experiment_id: str
    stage_run: str
    spec_text: str
    log_models: str
    tags: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    generator_root: str = ".hartune/generators"  # absolute on the driver: trials run in their own folders

    def run_config(self, config: dict[str, Any]) -> Any:
        from hartune.spec import deep_merge, unflatten

        point = {k: v for k, v in config.items() if k not in ("variant", "dataset", "seed")}
        overlay = deep_merge(self.overlays[config["variant"]], unflatten(point))
        overlay = deep_merge(overlay, {"train": {"num_threads": self.threads}})
        return self.spec.run_config(config["dataset"], overlay, config["seed"], f"trial {config}")


STATE_FILE = "state.pt"  # a per-epoch checkpoint: the recipe's snapshot (hartune.train.recipe)


class TuneReporter:
    """Recipe callback: one ``tune.report`` per epoch, with ``epoch`` as the schedulers' time axis and
    the recipe's snapshot as the checkpoint, so a restored trial continues after its last epoch."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        """A report without a checkpoint (a model fitted once, e.g. a random forest)."""
        from ray import tune

        tune.report({**metrics, "epoch": epoch})

    def on_epoch_state(self, epoch: int, metrics: dict[str, float], snapshot: Any) -> None:
        import torch
        from ray import tune

        with tempfile.TemporaryDirectory() as d:
            torch.save(snapshot(), Path(d) / STATE_FILE)
            tune.report({**metrics, "epoch": epoch}, checkpoint=tune.Checkpoint.from_directory(d))


def resume_state() -> dict[str, Any] | None:
    """The snapshot of this trial's last epoch when Tune restarts it (a retry, a resumed run)."""
    import torch
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        path = Path(d) / STATE_FILE
        return torch.load(path, weights_only=False) if path.exists() else None  # our own file


def run_trial(config: dict[str, Any], ctx: StageContext) -> None:
    from ray import tune

    from hartune.augment.source import CachedGenerators
    from hartune.tracking.runs import flatten
    from hartune.tracking.trial import TrialTracker, save_checkpoint
    from hartune.train import train

    trial_id = tune.get_context().get_trial_id()
    run_cfg = ctx.run_config(config)
    name = f"{config['variant']}-{config['dataset']}-s{config['seed']}"
    params = {**flatten(run_cfg.model_dump(mode="json")), "variant": config["variant"], "dataset_key": config["dataset"],
              "stage": ctx.stage, **{f"space.{k}": v for k, v in config.items() if "." in k}}
    tracker = TrialTracker.open(
        ctx.uri, ctx.experiment_id, ctx.stage_run, trial_id, name, params,
        {"hartune.stage": ctx.stage, "hartune.variant": str(config["variant"]), **ctx.tags},
    )
    try:
        result = train(run_cfg, callbacks=[tracker, TuneReporter()], generators=CachedGenerators(ctx.generator_root),
                       resume=resume_state())
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
