"""Platform overhead: N identical short trainings, measured side by side in one run:

  (a) one plain Python loop calling the recipe (no Ray, no MLflow);
  (c) `cores` plain processes, each running its share of (a) after a barrier: the floor that running
      trainings side by side on this machine allows (shared memory bandwidth and caches), no platform;
  (d) the hand-written peer: Ray Tune + `MLflowLoggerCallback`, the same recipe, a whole process
      (`peer_tune_mlflow.py`);
  (b) `hartune run` (Ray Tune + Optuna + MLflow + each trial's end-of-run work) with concurrency = cores,
      a whole process; with `--before SRC`, also (b0): the same with the hartune package of another
      checkout (SRC/platform, e.g. a `git archive` of main), run alternately with (b) in each repeat.

Prints (b) / ((a) / cores), the issue's ratio (1.0 = perfect scaling; Ray publishes ~1.14 for its own
bookkeeping; goal <= 1.10), (c) / ((a) / cores), what the hardware alone costs, (b) / (c), what
hartune and Ray add on top of plain parallel processes, and (b) / (d), hartune against the peer.
Every figure is the median over `--repeats` rounds, each round measuring every column once; the load
average (`os.getloadavg`) is printed before and after: other jobs on the machine inflate all columns.

With --profile DIR, (b) runs a second time with py-spy attached to the driver and to each Ray worker
process as it appears (raw collapsed stacks, one file per process, in DIR), and the CPU time of the
trial workers is split by phase: imports, opening the MLflow run, training epochs, the end-of-run work.
(`py-spy record --subprocesses` loses the trials: they run in a thread of a worker that raylet starts.)

   python benchmarks/overhead.py [--n 8] [--epochs 10 60] [--cores 2] [--repeats 3] [--before /tmp/main-src]\n                                 [--profile /tmp/overhead-profile]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

DATA = {
    "window": {"length": 100, "stride": 100},
    "split": {"kind": "holdout", "test_subjects": [1, 2], "val_subjects": [3]},
}
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
    spec = {
        "name": "overhead",
        "seeds": [0],
        "max_concurrent": cores,
        "resources": {"cpu": 1},
        "tracking": {"uri": f"sqlite:///{d}/mlflow.db", "log_models": "none"},
        "storage": f"{d}/ray",
        "datasets": {"watch": {**DATA, "train": train_cfg(epochs)}},
        "models": {"cnn": MODEL},
        "stages": [
            {"name": "grid", "kind": "grid", "variants": {f"copy{i}": {"model": "cnn"} for i in range(n)}}
        ],
    }
    path = d / "overhead.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "platform"  # this checkout's package


def env_for(source: Path) -> dict[str, str]:
    """The environment of a whole-process column: hartune imported from ``source`` (Ray's workers
    inherit it from the driver that starts the local cluster)."""
    return {**os.environ, "PYTHONPATH": str(source)}


def through_peer(n: int, epochs: int, cores: int) -> float:
    """(d): the hand-written Ray Tune + MLflowLoggerCallback script, a fresh process, a fresh store."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            str(HERE / "peer_tune_mlflow.py"),
            "--n",
            str(n),
            "--epochs",
            str(epochs),
            "--cores",
            str(cores),
            "--dir",
            tmp,
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, check=False, cwd=tmp, env=env_for(SOURCE), capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if (
            proc.returncode
        ):  # e.g. Ray's memory monitor killed a worker on a crowded machine: the round goes on
            print(
                f"  the peer failed with exit {proc.returncode} (not counted):\n{proc.stderr[-1500:]}",
                flush=True,
            )
            return float("nan")
    return wall


def through_hartune(
    n: int, epochs: int, cores: int, profile: Path | None = None, source: Path = SOURCE
) -> dict:
    """(b) in a fresh process; with `profile`, py-spy is attached to it and to every Ray worker."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cmd = [sys.executable, "-m", "hartune.cli", "run", str(write_spec(d, n, epochs, cores)), "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=d, env=env_for(source), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        spies = attach_py_spy(proc, profile) if profile is not None else []
        out = proc.communicate()[0]
        wall = time.perf_counter() - t0
        for spy in spies:
            spy.wait(timeout=30)
        if proc.returncode:  # as for the peer: reported, not counted
            print(
                f"  hartune run ({source}) failed with exit {proc.returncode} (not counted):\n{out}",
                flush=True,
            )
            return {"wall": float("nan"), "stage": float("nan")}
        from mlflow.tracking import MlflowClient

        c = MlflowClient(f"sqlite:///{d}/mlflow.db")
        exp = c.get_experiment_by_name("overhead")
        trials = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
        run_s = sum((t.info.end_time - t.info.start_time) / 1000 for t in trials) / len(trials)
        epochs_s = sum(
            sum(m.value for m in c.get_metric_history(t.info.run_id, "epoch_time_s")) for t in trials
        ) / len(trials)
        stage = seconds(re.search(r"done in (\S+?);", out).group(1))
    return {"wall": wall, "stage": stage, "run_s": run_s, "epochs_s": epochs_s, "trials": len(trials)}


def seconds(text: str) -> float:
    """``42s``, ``3m05s``, ``1h02m`` (hartune's ``duration``) -> seconds."""
    parts = {unit: int(n) for n, unit in re.findall(r"(\d+)([hms])", text)}
    return 3600.0 * parts.get("h", 0) + 60.0 * parts.get("m", 0) + parts.get("s", 0)


def attach_py_spy(proc: subprocess.Popen, folder: Path) -> list[subprocess.Popen]:
    """py-spy on the driver, then on each `ray::` process as soon as it appears, until the run ends."""
    folder.mkdir(parents=True, exist_ok=True)

    def spy(pid: int, role: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                "py-spy",
                "record",
                "--nonblocking",
                "--pid",
                str(pid),
                "--rate",
                "100",
                "--format",
                "raw",
                "-o",
                str(folder / f"{role}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

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


IMPORTED = re.compile(r"<module> \(([^/:(]+)")  # a frame running a module's top level: its package


def imported_package(stack: str) -> str:
    """The top-level package an import stack (root first, ``;``-separated) is importing: the first
    module imported below the stack's first ``_find_and_load``, hartune's own modules skipped (hartune
    when only they are); the module frames above it are the importer (Ray's worker, a thread)."""
    frames = stack.split(";")
    start = next((i for i, f in enumerate(frames) if f.startswith("_find_and_load (")), len(frames))
    packages = [m.group(1).removesuffix(".py") for m in map(IMPORTED.match, frames[start:]) if m]
    return next((p for p in packages if p != "hartune"), packages[0] if packages else "other")


def profile_summary(folder: Path, rate: int = 100) -> tuple[Counter, Counter, Counter, int]:
    """CPU seconds by process role, by phase inside the processes that ran trials, and by imported
    package in their imports; and how many processes ran trials."""
    roles, phases, imports, trial_processes = Counter(), Counter(), Counter(), 0
    for path in sorted(folder.glob("*.txt")):
        stacks = [line.rpartition(" ") for line in path.read_text().splitlines()]
        stacks = [(stack, int(count) / rate) for stack, _, count in stacks if count.isdigit()]
        ran_trials = any("run_trial (hartune" in stack for stack, _ in stacks)
        role = (
            "driver (CLI, Tune loop, MLflow callbacks)"
            if path.name.startswith("driver")
            else "trial workers"
            if ran_trials
            else "other Ray workers (idle, agents)"
        )
        roles[role] += sum(s for _, s in stacks)
        if role == "trial workers":
            trial_processes += 1
            for stack, seconds in stacks:
                phase = next((name for name, frame in PHASES if frame in stack), "Ray worker machinery")
                phases[phase] += seconds
                if phase == PHASES[0][0]:
                    imports[imported_package(stack)] += seconds
    return roles, phases, imports, trial_processes


def measure(n: int, epochs: int, cores: int, repeats: int, before: Path | None) -> dict[str, list[float]]:
    """Every column once per round, `repeats` rounds; the whole-process columns alternate."""
    cols: dict[str, list[float]] = {k: [] for k in ("a", "c", "d", "b", "b_stage", "b0", "b0_stage")}
    for r in range(repeats):
        cols["a"].append(plain_loop(n, epochs))
        cols["c"].append(side_by_side(n, epochs, cores))
        cols["d"].append(through_peer(n, epochs, cores))
        runs = [("b0", before / "platform"), ("b", SOURCE)] if before else [("b", SOURCE)]
        for key, source in runs if r % 2 == 0 else runs[::-1]:
            out = through_hartune(n, epochs, cores, source=source)
            cols[key].append(out["wall"])
            cols[f"{key}_stage"].append(out["stage"])
        print(
            f"  round {r + 1}/{repeats}, {epochs} epochs: "
            + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in cols.items() if v),
            flush=True,
        )
    return {k: v for k, v in cols.items() if v}


def report(n: int, epochs: int, cores: int, cols: dict[str, list[float]]) -> None:
    med = {
        k: statistics.median([x for x in v if not math.isnan(x)] or [math.nan]) for k, v in cols.items()
    }  # NaN: failed
    ideal = med["a"] / cores
    print(
        f"{n} trainings of a small CNN, {epochs} epochs each, watch data, {cores} cores, "
        f"medians of {len(cols['a'])} rounds"
    )
    print(f"  (a) plain loop:                {med['a']:7.1f} s  ({med['a'] / n:.2f} s per training)")
    print(f"  (c) {cores} plain processes:         {med['c']:7.1f} s")
    print(f"  (d) Ray Tune + MLflow by hand: {med['d']:7.1f} s")
    for key, name in (("b0", "hartune run, before"), ("b", "hartune run")):
        if key in med:
            print(
                f"  ({key}) {name + ':':<26}{med[key]:7.1f} s  (the run after start-up: {med[key + '_stage']:.0f} s)"
            )
    print(
        f"ratio (c) / ((a) / cores): {med['c'] / ideal:.2f} (the machine's own cost of running side by side)"
    )
    print(f"ratio (d) / ((a) / cores): {med['d'] / ideal:.2f} (the hand-written peer)")
    for key in ("b0", "b"):
        if key in med:
            print(
                f"ratio ({key}) / ((a) / cores): {med[key] / ideal:.2f}; ({key}) / (d): {med[key] / med['d']:.2f}; "
                f"({key}) / (c): {med[key] / med['c']:.2f}; fixed cost ({key}) - (c): {med[key] - med['c']:.1f} s"
            )
    print("per round: " + "; ".join(f"{k} " + " ".join(f"{x:.1f}" for x in v) for k, v in cols.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--epochs", type=int, nargs="+", default=[10])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--before", type=Path, help="a checkout to compare with: (b0) imports hartune from BEFORE/platform"
    )
    ap.add_argument(
        "--profile", type=Path, help="also profile (b) with py-spy; one raw stack file per process here"
    )
    args = ap.parse_args()

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for epochs in args.epochs:
        report(args.n, epochs, args.cores, measure(args.n, epochs, args.cores, args.repeats, args.before))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.profile:
        if shutil.which("py-spy") is None:
            sys.exit("--profile needs py-spy: pip install py-spy")
        p = through_hartune(args.n, args.epochs[0], args.cores, args.profile)
        roles, phases, imports, trial_processes = profile_summary(args.profile)
        print(f"profile of (b) under py-spy ({p['wall']:.1f} s wall with sampling), CPU seconds:")
        for role, s in roles.most_common():
            print(f"  {role:<40} {s:6.1f}")
        total = sum(phases.values())
        print(
            f"  trial workers by phase ({total / p['trials']:.2f} s per trial; "
            f"imports and first-call set-up are once per worker process):"
        )
        for phase, s in phases.most_common():
            print(f"    {phase:<38} {s:6.1f}  ({s / p['trials']:.2f} s per trial, {100 * s / total:.0f}%)")
        print(f"  the imports by package, in the {trial_processes} processes that ran trials:")
        for package, s in imports.most_common():
            print(f"    {package:<38} {s:6.1f}  ({s / max(trial_processes, 1):.2f} s per process)")


if __name__ == "__main__":
    main()
