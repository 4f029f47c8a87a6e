"""Platform overhead: N identical short trainings, measured side by side in one run:

  (a) one plain Python loop calling the recipe (no Ray, no MLflow);
  (c) `cores` plain processes, each running its share of (a) after a barrier: the floor that running
      trainings side by side on this machine allows (shared memory bandwidth and caches), no platform;
  (b) `hartune run` (Ray Tune + Optuna + MLflow + each trial's end-of-run work) with concurrency = cores.

Prints (b) / ((a) / cores), the issue's ratio (1.0 = perfect scaling; Ray publishes ~1.14 for its own
bookkeeping; goal <= 1.10), (c) / ((a) / cores), what the hardware alone costs, and (b) / (c), what
hartune and Ray add on top of plain parallel processes.

With --profile DIR, (b) runs a second time with py-spy attached to the driver and to each Ray worker
process as it appears (raw collapsed stacks, one file per process, in DIR), and the CPU time of the
trial workers is split by phase: imports, opening the MLflow run, training epochs, the end-of-run work.
(`py-spy record --subprocesses` loses the trials: they run in a thread of a worker that raylet starts.)

   python benchmarks/overhead.py [--n 8] [--epochs 10] [--cores 2] [--profile /tmp/overhead-profile]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

DATA = {"window": {"length": 100, "stride": 100},
        "split": {"kind": "holdout", "test_subjects": [1, 2], "val_subjects": [3]}}
MODEL = {"name": "cnn", "channels": [32, 32]}

# phase -> a frame that marks it in a trial worker's stack (first match wins, most specific first)
PHASES = (
    ("imports (once per worker process)", "_find_and_load (<frozen importlib._bootstrap>"),
    ("per-epoch MLflow logging", "on_epoch_end (hartune/tracking/trial.py"),
    ("per-epoch checkpoint", "on_epoch_end (hartune/tune/trainable.py"),
    ("training: data and model set-up", "setup (hartune/train/recipe.py"),
    ("training: epochs, validation", "run (hartune/train/recipe.py"),
    ("end: deployment profile", "deployment_metrics (hartune/tracking/trial.py"),
    ("end: figures", "log_png (hartune/tracking/runs.py"),
    ("end: other MLflow logging", "finish (hartune/tracking/trial.py"),
    ("end: final checkpoint", "save_checkpoint (hartune/tracking/trial.py"),
    ("open: MLflow run and params", "open (hartune/tracking/trial.py"),
    ("open: already-done check", "report_if_done (hartune/tune/trainable.py"),
    ("run_trial, other (final report to Tune)", "run_trial (hartune/tune/trainable.py"),
)


def train_cfg(epochs: int) -> dict:
    return {"epochs": epochs, "batch_size": 64, "num_threads": 1, "device": "cpu"}


def run_config(epochs: int):
    from hartune.train import RunConfig

    return RunConfig.model_validate({"data": DATA, "model": MODEL, "train": train_cfg(epochs)})


def plain_loop(n: int, epochs: int) -> float:
    from hartune.train import train

    train(run_config(1))  # warm caches (imports, the parsed data)
    t0 = time.perf_counter()
    for _ in range(n):
        train(run_config(epochs))
    return time.perf_counter() - t0


def _worker(share: int, epochs: int, barrier, out) -> None:
    from hartune.train import train

    train(run_config(1))
    barrier.wait()
    t0 = time.monotonic()
    for _ in range(share):
        train(run_config(epochs))
    out.put((t0, time.monotonic()))


def side_by_side(n: int, epochs: int, cores: int) -> float:
    """(c): the trainings split evenly over `cores` warm processes that start together."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(cores), ctx.Queue()
    shares = [n // cores + (i < n % cores) for i in range(cores)]
    procs = [ctx.Process(target=_worker, args=(s, epochs, barrier, out)) for s in shares]
    for p in procs:
        p.start()
    spans = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return max(e for _, e in spans) - min(s for s, _ in spans)


def write_spec(d: Path, n: int, epochs: int, cores: int) -> Path:
    spec = {"name": "overhead", "seeds": [0], "max_concurrent": cores, "resources": {"cpu": 1},
            "tracking": {"uri": f"sqlite:///{d}/mlflow.db", "log_models": "none"}, "storage": f"{d}/ray",
            "datasets": {"watch": {**DATA, "train": train_cfg(epochs)}}, "models": {"cnn": MODEL},
            "stages": [{"name": "grid", "kind": "grid",
                        "variants": {f"copy{i}": {"model": "cnn"} for i in range(n)}}]}
    path = d / "overhead.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def through_hartune(n: int, epochs: int, cores: int, profile: Path | None = None) -> dict:
    """(b) in a fresh process; with `profile`, py-spy is attached to it and to every Ray worker."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cmd = [sys.executable, "-m", "hartune.cli", "run", str(write_spec(d, n, epochs, cores)), "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        spies = attach_py_spy(proc, profile) if profile is not None else []
        out = proc.communicate()[0]
        wall = time.perf_counter() - t0
        for spy in spies:
            spy.wait(timeout=30)
        if proc.returncode:
            sys.exit(f"hartune run failed with exit {proc.returncode}:\n{out}")
        from mlflow.tracking import MlflowClient

        c = MlflowClient(f"sqlite:///{d}/mlflow.db")
        exp = c.get_experiment_by_name("overhead")
        trials = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
        run_s = sum((t.info.end_time - t.info.start_time) / 1000 for t in trials) / len(trials)
        epochs_s = sum(sum(m.value for m in c.get_metric_history(t.info.run_id, "epoch_time_s"))
                       for t in trials) / len(trials)
        stage = float(re.search(r"done in (\d+)s", out).group(1))
    return {"wall": wall, "stage": stage, "run_s": run_s, "epochs_s": epochs_s, "trials": len(trials)}


def attach_py_spy(proc: subprocess.Popen, folder: Path) -> list[subprocess.Popen]:
    """py-spy on the driver, then on each `ray::` process as soon as it appears, until the run ends."""
    folder.mkdir(parents=True, exist_ok=True)

    def spy(pid: int, role: str) -> subprocess.Popen:
        return subprocess.Popen(["py-spy", "record", "--nonblocking", "--pid", str(pid), "--rate", "100", "--format", "raw",
                                 "-o", str(folder / f"{role}-{pid}.txt")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    spies, seen = [spy(proc.pid, "driver")], {proc.pid}
    while proc.poll() is None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in seen:
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::"):
                seen.add(int(entry.name))
                spies.append(spy(int(entry.name), "worker"))
        time.sleep(0.05)
    return spies


def profile_summary(folder: Path, rate: int = 100) -> tuple[Counter, Counter]:
    """CPU seconds by process role, and by phase inside the processes that ran trials."""
    roles, phases = Counter(), Counter()
    for path in sorted(folder.glob("*.txt")):
        stacks = [line.rpartition(" ") for line in path.read_text().splitlines()]
        stacks = [(stack, int(count) / rate) for stack, _, count in stacks if count.isdigit()]
        ran_trials = any("run_trial (hartune" in stack for stack, _ in stacks)
        role = ("driver (CLI, Tune loop, MLflow callbacks)" if path.name.startswith("driver")
                else "trial workers" if ran_trials else "other Ray workers (idle, agents)")
        roles[role] += sum(s for _, s in stacks)
        if role == "trial workers":
            for stack, seconds in stacks:
                phase = next((name for name, frame in PHASES if frame in stack), "Ray worker machinery")
                phases[phase] += seconds
    return roles, phases


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--profile", type=Path, help="also profile (b) with py-spy; one raw stack file per process here")
    args = ap.parse_args()

    plain = plain_loop(args.n, args.epochs)
    floor = side_by_side(args.n, args.epochs, args.cores)
    b = through_hartune(args.n, args.epochs, args.cores)
    ideal = plain / args.cores
    print(f"{args.n} trainings of a small CNN, {args.epochs} epochs each, watch data, {args.cores} cores")
    print(f"  (a) plain loop:                {plain:7.1f} s  ({plain / args.n:.2f} s per training)")
    print(f"  (c) {args.cores} plain processes:         {floor:7.1f} s")
    print(f"  (b) hartune run:               {b['wall']:7.1f} s  (the run after start-up: {b['stage']:.0f} s)")
    print(f"  per trial in (b): MLflow run open {b['run_s']:.2f} s, of which training epochs {b['epochs_s']:.2f} s")
    print(f"ratio (b) / ((a) / cores): {b['wall'] / ideal:.2f} (goal <= 1.10); run only: {b['stage'] / ideal:.2f}")
    print(f"ratio (c) / ((a) / cores): {floor / ideal:.2f} (the machine's own cost of running side by side)")
    print(f"ratio (b) / (c):           {b['wall'] / floor:.2f} (hartune + Ray over plain processes); "
          f"run only: {b['stage'] / floor:.2f}")
    if args.profile:
        if shutil.which("py-spy") is None:
            sys.exit("--profile needs py-spy: pip install py-spy")
        p = through_hartune(args.n, args.epochs, args.cores, args.profile)
        roles, phases = profile_summary(args.profile)
        print(f"profile of (b) under py-spy ({p['wall']:.1f} s wall with sampling), CPU seconds:")
        for role, s in roles.most_common():
            print(f"  {role:<40} {s:6.1f}")
        total = sum(phases.values())
        print(f"  trial workers by phase ({total / p['trials']:.2f} s per trial; "
              f"imports and first-call set-up are once per worker process):")
        for phase, s in phases.most_common():
            print(f"    {phase:<38} {s:6.1f}  ({s / p['trials']:.2f} s per trial, {100 * s / total:.0f}%)")


if __name__ == "__main__":
    main()
