"""The hand-written peer of ``hartune run`` for ``overhead.py``: Ray Tune + ``MLflowLoggerCallback``.

What a researcher writes without hartune: a function trainable that calls the same recipe and reports
every epoch to Tune, a grid of N identical copies, ``max_concurrent_trials = cores``, one CPU per
trial, and Ray's own MLflow callback logging every result (on the driver) into a fresh SQLite store.
Tune's defaults otherwise (``reuse_actors`` unset: Tune's default for function trainables). No spec,
no validation, no checkpoints, no end-of-trial artifacts: the bare minimum a comparison allows.

   python benchmarks/peer_tune_mlflow.py --n 8 --epochs 10 --cores 2 --dir /tmp/peer
"""

from __future__ import annotations

import argparse
from pathlib import Path

DATA = {
    "window": {"length": 100, "stride": 100},
    "split": {"kind": "holdout", "test_subjects": [1, 2], "val_subjects": [3]},
}
MODEL = {"name": "cnn", "channels": [32, 32]}


def trainable(config: dict) -> None:
    from ray import tune

    from hartune.train import RunConfig, train

    class Report:
        def on_epoch_end(self, epoch: int, metrics: dict, snapshot=None) -> None:
            tune.report({**metrics, "epoch": epoch})

    cfg = RunConfig.model_validate(
        {
            "data": DATA,
            "model": MODEL,
            "train": {"epochs": config["epochs"], "batch_size": 64, "num_threads": 1, "device": "cpu"},
        }
    )
    train(cfg, callbacks=[Report()])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--dir", type=Path, required=True)
    args = ap.parse_args()

    import ray
    from ray import tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"copy": tune.grid_search(list(range(args.n))), "epochs": args.epochs},
        tune_config=tune.TuneConfig(max_concurrent_trials=args.cores),
        run_config=tune.RunConfig(
            name="peer",
            storage_path=str(args.dir / "ray"),
            verbose=0,
            callbacks=[
                MLflowLoggerCallback(tracking_uri=f"sqlite:///{args.dir}/mlflow.db", experiment_name="peer")
            ],
        ),
    )
    grid = tuner.fit()
    errors = [r.error for r in grid if r.error]
    if errors:
        raise SystemExit(f"peer: {len(errors)} trials failed: {errors[0]}")
    print(f"peer: {len(grid)} trials finished")


if __name__ == "__main__":
    main()
