"""USAD on one GPU: epoch time in fp32, bf16 and compiled; trials per hour for 16 trainings run 1, 2, 4 and
8 at a time on the one GPU; GPU utilisation sampled with nvidia-smi. Goal: 4 at a time gives >= 3x the
trials per hour of 1 at a time.

N at a time is N worker processes, each driving the recipe directly (``Recipe(cfg).run()``) on its share
of the 16 trainings: what Ray's fractional packing (``resources: {gpu: 1/N}``) amounts to on one GPU.
Ray, MLflow and Optuna are not needed: the recipe path imports none of them, which is what lets this run
on the lent GPU machine (PyTorch, NumPy, SciPy, scikit-learn, pandas; no Ray, nothing can be fetched).
The few wheels it lacks (pydantic and its parts, typing-extensions, seglearn for the watch data) travel
with the working tree:

    python benchmarks/gpu.py --fetch-wheels        # here, once: fills benchmarks/gpu_wheels/ (git-ignored, ~14 MB)
    # there, one command of about 6 minutes (carry: benchmarks/gpu_wheels):
    python3 benchmarks/gpu.py --wheels benchmarks/gpu_wheels --out $OUT

Each worker imports, loads the data and starts CUDA before the clock starts (a reused Ray actor has done
that too); the wall time runs from the start signal to the last worker's end, and each training is whole:
setup, epochs with validation, the test split. ``--device cpu --tiny`` runs every part on CPU in about
a minute (tests/benchmarks/test_gpu_bench.py). Prints a table and writes ``gpu.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / "benchmarks" / "gpu_wheels"
# Pinned to what pyproject.toml resolves here; cp312: the GPU machine's python3 is 3.12.
PINS = [
    "pydantic==2.13.4",
    "pydantic-core==2.46.4",
    "annotated-types==0.7.0",
    "typing-inspection==0.4.2",
    "typing-extensions==4.16.0",
    "seglearn==1.2.5",
]
MODES = {
    "fp32": ("fp32", False),
    "bf16": ("bf16", False),
    "compiled": ("fp32", True),
    "compiled_bf16": ("bf16", True),
}


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(2)


def fetch_wheels() -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            "--platform",
            "manylinux_2_17_x86_64",
            "--platform",
            "manylinux2014_x86_64",
            "-d",
            str(WHEELS),
            *PINS,
        ],
        check=True,
    )
    print(f"{WHEELS}: {sum(p.stat().st_size for p in WHEELS.glob('*.whl')) / 2**20:.1f} MiB")


def install_wheels(folder: Path) -> None:
    """pip install the carried wheels into a temporary target, for this process and its workers."""
    target = Path(tempfile.gettempdir()) / "hartune-gpu-site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--upgrade",
            "--target",
            str(target),
            *map(str, sorted(folder.glob("*.whl"))),
        ],
        check=True,
    )
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])


def use_platform() -> None:
    sys.path.insert(0, str(ROOT / "platform"))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "platform"), os.environ.get("PYTHONPATH", "")])


def run_config(args: argparse.Namespace, precision: str, compiled: bool, seed: int, threads: int):
    from hartune.train import RunConfig

    stride = 100 if args.tiny else 50  # tiny: half the windows
    return RunConfig.model_validate(
        {
            "data": {"window": {"length": 100, "stride": stride}},
            "model": {"name": args.model},
            "train": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "device": args.device,
                "num_threads": threads,
                "precision": precision,
                "compile": compiled,
            },
            "seed": seed,
        }
    )


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


class GpuSampler:
    """nvidia-smi's utilisation and memory every 200 ms while a phase runs; nothing where it is absent."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float]] = []
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        try:
            self.proc = subprocess.Popen(
                [
                    "nvidia-smi",
                    "--query-gpu=utilization.gpu,memory.used",
                    "--format=csv,noheader,nounits",
                    "-lms",
                    "200",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except FileNotFoundError:
            return self
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                util, mem = (float(v) for v in line.split(",")[:2])
            except ValueError:
                continue
            self.rows.append((util, mem))

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()

    def summary(self) -> dict[str, float | int | None]:
        if not self.rows:
            return {"samples": 0, "util_mean": None, "util_median": None, "mem_max_mib": None}
        util = [u for u, _ in self.rows]
        return {
            "samples": len(util),
            "util_mean": round(statistics.mean(util), 1),
            "util_median": statistics.median(util),
            "mem_max_mib": max(m for _, m in self.rows),
        }


def epoch_times(args: argparse.Namespace) -> dict[str, dict]:
    """Median epoch time of USAD per mode, in this process, after ``--warmup`` epochs (compile's included)."""
    import torch

    from hartune.train.recipe import Recipe

    out: dict[str, dict] = {}
    data = None
    for mode in args.modes:
        precision, compiled = MODES[mode]
        torch._dynamo.reset()
        recipe = Recipe(run_config(args, precision, compiled, 0, os.cpu_count() or 1), data=data)
        recipe.setup()
        data = recipe.data  # prepared once, shared by the modes
        times = []
        with GpuSampler() as gpu:
            for e in range(1, args.warmup + args.timed + 1):
                t0 = time.perf_counter()
                m = recipe.train_epoch(e)
                sync(args.device)
                times.append(time.perf_counter() - t0)
        timed = times[args.warmup :]
        out[mode] = {
            "median_s": statistics.median(timed),
            "epochs_s": [round(t, 4) for t in times],
            "first_epoch_s": times[0],
            "windows": len(recipe.train_y),
            "train_loss": m["train_loss"],
            "gpu": gpu.summary(),
        }
        print(
            f"  {mode:<14} median {out[mode]['median_s']:.3f} s/epoch over {len(timed)} "
            f"(first epoch {times[0]:.2f} s) util {out[mode]['gpu']['util_mean']}",
            flush=True,
        )
        del recipe
    return out


def worker(args: argparse.Namespace) -> None:
    """One packed 'trial slot': set up, say ready, wait for go, run its trainings, print one JSON line."""
    import torch

    from hartune.data import prepare
    from hartune.train.recipe import Recipe

    precision, compiled = MODES[args.worker_mode]
    cfgs = [run_config(args, precision, compiled, s, args.threads) for s in args.seeds]
    data = prepare(cfgs[0].data)
    if args.device == "cuda":
        torch.zeros(1, device="cuda")  # the CUDA context, before the clock
    Path(args.ready).touch()
    while not Path(args.go).exists():
        time.sleep(0.01)
    t0 = time.perf_counter()
    per = []
    for cfg in cfgs:
        t = time.perf_counter()
        r = Recipe(cfg, data=data).run()
        per.append({"seed": cfg.seed, "s": time.perf_counter() - t, "test_f1": r.test.get("f1_macro")})
    print(json.dumps({"start": t0, "wall_s": time.perf_counter() - t0, "trials": per}), flush=True)


def packed(args: argparse.Namespace, n: int, tmp: Path) -> dict:
    """``args.trials`` trainings over ``n`` concurrent worker processes on the one device."""
    seeds = list(range(args.trials))
    threads = max(1, (os.cpu_count() or 1) // n)
    go = tmp / f"go-{n}"
    procs, ready = [], []
    t_launch = time.perf_counter()
    for i in range(n):
        ready.append(tmp / f"ready-{n}-{i}")
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--worker-mode",
            args.concurrency_mode,
            "--ready",
            str(ready[-1]),
            "--go",
            str(go),
            "--seeds",
            *map(str, seeds[i::n]),
            "--threads",
            str(threads),
            "--device",
            args.device,
            "--model",
            args.model,
            "--epochs",
            str(args.epochs),
            "--batch-size",
            str(args.batch_size),
            *(["--tiny"] if args.tiny else []),
        ]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    while not all(p.exists() for p in ready):
        if any(p.poll() not in (None, 0) for p in procs):
            raise SystemExit(f"a worker of the {n}-at-a-time run failed before it was ready")
        time.sleep(0.05)
    startup = time.perf_counter() - t_launch
    with GpuSampler() as gpu:
        t0 = time.perf_counter()
        go.touch()
        results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        wall = time.perf_counter() - t0
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker of the {n}-at-a-time run failed")
    trial_s = [t["s"] for r in results for t in r["trials"]]
    row = {
        "concurrent": n,
        "trainings": len(trial_s),
        "wall_s": wall,
        "startup_s": startup,
        "trials_per_hour": len(trial_s) / wall * 3600,
        "median_training_s": statistics.median(trial_s),
        "threads_per_worker": threads,
        "gpu": gpu.summary(),
    }
    print(
        f"  {n} at a time: {wall:.1f} s for {len(trial_s)} trainings = {row['trials_per_hour']:.0f}/h "
        f"(median training {row['median_training_s']:.1f} s; start-up {startup:.1f} s; "
        f"util {row['gpu']['util_mean']})",
        flush=True,
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument(
        "--tiny", action="store_true", help="a CPU smoke run: fewer windows, epochs and trainings"
    )
    ap.add_argument("--modes", default="fp32,bf16,compiled", help=f"epoch-time modes, of {', '.join(MODES)}")
    ap.add_argument("--concurrency", default="1,2,4,8")
    ap.add_argument(
        "--concurrency-mode", default="fp32", choices=list(MODES), help="the packed trainings' mode"
    )
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=None, help="per packed training (default 5; tiny 1)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed epochs per mode (default 2; tiny 1)")
    ap.add_argument("--timed", type=int, default=None, help="timed epochs per mode (default 5; tiny 1)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--model", default="usad")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--wheels", type=Path, default=None, help="install these carried wheels first")
    ap.add_argument("--fetch-wheels", action="store_true", help=f"pip download the wheels into {WHEELS}")
    # a worker process (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker-mode", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--ready", help=argparse.SUPPRESS)
    ap.add_argument("--go", help=argparse.SUPPRESS)
    ap.add_argument("--seeds", type=int, nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fetch_wheels:
        return fetch_wheels()
    tiny = {"epochs": 1, "warmup": 1, "timed": 1} if args.tiny else {"epochs": 5, "warmup": 2, "timed": 5}
    for k, v in tiny.items():
        setattr(args, k, v if getattr(args, k) is None else getattr(args, k))
    if args.worker:
        use_platform()
        return worker(args)
    args.modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        fail(f"--modes: unknown {bad}; accepted: {', '.join(MODES)}")
    levels = [int(n) for n in args.concurrency.split(",") if n.strip().isdigit() and int(n) >= 1]
    if len(levels) != len([n for n in args.concurrency.split(",") if n]):
        fail(
            f"--concurrency={args.concurrency!r}: accepted: comma-separated whole numbers >= 1, e.g. 1,2,4,8"
        )
    if args.wheels is not None:
        if not sorted(args.wheels.glob("*.whl")):
            fail(
                f"--wheels {args.wheels}: no .whl files; fill it with: python benchmarks/gpu.py --fetch-wheels"
            )
        install_wheels(args.wheels)
    use_platform()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        fail("--device cuda: no CUDA device here; accepted here: --device cpu (with --tiny for a short run)")
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(
        f"{args.model} on {name}, torch {torch.__version__}, {os.cpu_count()} CPUs, batch {args.batch_size}",
        flush=True,
    )
    report: dict = {
        "device": name,
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "args": {
            k: str(v) for k, v in vars(args).items() if not k.startswith(("worker", "ready", "go", "seeds"))
        },
    }

    def save() -> None:
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "gpu.json").write_text(json.dumps(report, indent=1))

    print(f"epoch time ({args.warmup} warm-up + {args.timed} timed epochs per mode):", flush=True)
    report["epoch_time"] = epoch_times(args)
    save()
    print(
        f"{args.trials} trainings of {args.epochs} epochs, N at a time ({args.concurrency_mode}):", flush=True
    )
    report["concurrency"] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in levels:
            report["concurrency"].append(packed(args, n, Path(tmp)))
            save()
    base = report["epoch_time"].get("fp32", {}).get("median_s")
    print("\n| mode | median epoch s | vs fp32 | GPU util % (mean) |\n|---|---|---|---|")
    for mode, r in report["epoch_time"].items():
        ratio = f"{base / r['median_s']:.2f}x" if base else ""
        print(f"| {mode} | {r['median_s']:.3f} | {ratio} | {r['gpu']['util_mean']} |")
    one = next((r["trials_per_hour"] for r in report["concurrency"] if r["concurrent"] == 1), None)
    print(
        "\n| at a time | wall s | trials/h | vs 1 at a time | GPU util % (mean) | GPU MiB (max) |\n|---|---|---|---|---|---|"
    )
    for r in report["concurrency"]:
        ratio = f"{r['trials_per_hour'] / one:.2f}x" if one else ""
        print(
            f"| {r['concurrent']} | {r['wall_s']:.1f} | {r['trials_per_hour']:.0f} | {ratio} | "
            f"{r['gpu']['util_mean']} | {r['gpu']['mem_max_mib']} |"
        )
    four = next((r["trials_per_hour"] for r in report["concurrency"] if r["concurrent"] == 4), None)
    if one and four:
        report["goal_4_vs_1"] = four / one
        print(f"\n4 at a time / 1 at a time: {four / one:.2f}x (goal >= 3x)")
    save()


if __name__ == "__main__":
    main()
