"""Platform overhead: N identical short trainings, (a) in one plain Python loop calling the recipe,
(b) through `hartune run` (Ray Tune + MLflow + the trial's end-of-run work) with concurrency = cores.
Prints (b) wall / ((a) wall / cores): 1.0 would be perfect scaling, Ray publishes ~1.14 for its own
bookkeeping; the goal is <= 1.10. Also splits (b) into start-up (imports, validation, Ray) and the
stage itself, and the per-trial end-of-run work (test, figures, deployment profile, MLflow).
   python benchmarks/overhead.py [--n 8] [--epochs 10] [--cores 2]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

DATA = {"window": {"length": 100, "stride": 100},
        "split": {"kind": "holdout", "test_subjects": [1, 2], "val_subjects": [3]}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    model = {"name": "cnn", "channels": [32, 32]}
    train = {"epochs": args.epochs, "batch_size": 64, "num_threads": 1, "device": "cpu"}

    # (a) one plain loop in this process
    from hartune.train import RunConfig, train as run_recipe

    cfg = RunConfig.model_validate({"data": DATA, "model": model, "train": train})
    run_recipe(cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 1})}))  # warm caches
    t0 = time.perf_counter()
    for _ in range(args.n):
        run_recipe(cfg)
    plain = time.perf_counter() - t0

    # (b) the same trainings as one grid stage through the CLI, in a fresh process
    with tempfile.TemporaryDirectory() as d:
        spec = {"name": "overhead", "seeds": [0], "max_concurrent": args.cores, "resources": {"cpu": 1},
                "tracking": {"uri": f"sqlite:///{d}/mlflow.db", "log_models": "none"}, "storage": f"{d}/ray",
                "datasets": {"watch": {**DATA, "train": train}}, "models": {"cnn": model},
                "stages": [{"name": "grid", "kind": "grid", "variants": {f"copy{i}": {"model": "cnn"} for i in range(args.n)}}]}
        path = Path(d) / "overhead.yaml"
        path.write_text(yaml.safe_dump(spec))
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "hartune.cli", "run", str(path), "--quiet"], cwd=d,
                             capture_output=True, text=True, check=True).stdout
        platform = time.perf_counter() - t0
        stage = float(re.search(r"done in (\d+)s", out).group(1))
        from mlflow.tracking import MlflowClient

        c = MlflowClient(f"sqlite:///{d}/mlflow.db")
        exp = c.get_experiment_by_name("overhead")
        trials = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
        per_trial = sum((t.info.end_time - t.info.start_time) / 1000 for t in trials) / len(trials)
        epochs_s = sum(sum(m.value for m in c.get_metric_history(t.info.run_id, "epoch_time_s")) for t in trials) / len(trials)

    ideal = plain / args.cores
    print(f"{args.n} trainings of a small CNN, {args.epochs} epochs each, watch data, {args.cores} cores")
    print(f"  (a) plain loop:        {plain:7.1f} s  ({plain / args.n:.2f} s per training)")
    print(f"  (b) hartune run:       {platform:7.1f} s  (of which the run itself, after start-up: {stage:.0f} s)")
    print(f"  per trial in (b): MLflow run open {per_trial:.2f} s, of which training epochs {epochs_s:.2f} s")
    print(f"ratio (b) / ((a) / cores): {platform / ideal:.2f} (goal <= 1.10); run only: {stage / ideal:.2f}")


if __name__ == "__main__":
    main()
