"""Peak memory of one node running 1, 2 and 4 trials at once on PAMAP2-sized data, for two source trees
(e.g. before and after the data store, ``hartune.tune.datastore``), measured side by side in one run.

The data: a synthetic ``arrays`` set shaped like USAD's PAMAP2 (windows of 171 samples x 40 channels,
12 classes, 8 subjects; ``--windows`` of them, default 11,000 = about 1.9 M labelled samples cut
without overlap, 301 MB as float32), and a tiny set of the same shape (100 windows) for the fixed cost.
Each trial: a small CNN, one epoch. N trials run at once (``max_concurrent: N``, ``resources.cpu:
2/N``), one ``hartune run`` per (tree, data, N), each with a fresh MLflow store and a fresh local Ray.

How memory is counted: every 0.2 s the whole process tree of ``hartune run`` is read from /proc: the
driver, Ray's GCS and raylet (which holds the object store, an mmap of /dev/shm), Ray's helpers and
every worker (trials and the data store actor). Their **PSS** (``/proc/PID/smaps_rollup``) is summed:
PSS charges a shared page to the processes that map it in equal parts, so an object-store page mapped
by 4 trials counts once in the sum, not 4 times, while a private copy in each trial counts each time.
RSS (which charges a shared page in full to every process mapping it) is printed too, for contrast.
The table gives the peak of each sum during the run, and the data's share: the peak with PAMAP2-sized
data minus the peak with the tiny set, same tree, same N.

   python benchmarks/memory.py --before /tmp/main-platform [--after platform] [--windows 11000] [--trials 1,2,4]

(``--before``: a checkout's ``platform/`` folder, e.g. ``git archive <commit> platform | tar -x -C DIR``.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

WINDOW, CHANNELS, CLASSES, SUBJECTS = 171, 40, 12, 8  # USAD's PAMAP2 window (har_anchors.md)
TINY_WINDOWS = 100


def write_data(path: Path, windows: int) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(windows) % CLASSES
    x = rng.standard_normal((windows, WINDOW, CHANNELS), dtype=np.float32) + y[:, None, None].astype(
        np.float32
    )
    np.savez(path, X=x, y=y, subject=1 + np.arange(windows) % SUBJECTS)


def write_spec(d: Path, data: Path, n: int, cores: int) -> Path:
    entry = {
        "dataset": {"name": "arrays", "path": str(data)},
        "window": {"length": WINDOW, "stride": WINDOW},
        "split": {"kind": "holdout", "test_subjects": [1], "val_subjects": [2]},
        "train": {"epochs": 1, "batch_size": 256, "device": "cpu"},
    }
    spec = {
        "name": "memory",
        "seeds": list(range(n)),
        "max_concurrent": n,
        "resources": {"cpu": cores / n},
        "tracking": {"uri": f"sqlite:///{d}/mlflow.db", "log_models": "none"},
        "storage": f"{d}/ray",
        "datasets": {"pamap2like": entry},
        "models": {"cnn": {"name": "cnn", "channels": [16], "hidden": 16}},
        "stages": [{"name": "grid", "kind": "grid", "variants": {"cnn": {"model": "cnn"}}}],
    }
    path = d / "memory.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry.name))
    return out


def _tree(root: int) -> list[int]:
    kids, todo, out = _children(), [root], []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def _memory(pid: int) -> tuple[int, int, str]:
    """(PSS, RSS) in bytes and the process's name; zeros if it is gone."""
    try:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        )
        name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except (OSError, ValueError):
        return 0, 0, ""
    kib = lambda k: int(fields.get(k, "0 kB").split()[0]) * 1024
    return kib("Pss"), kib("Rss"), name


class Sampler(threading.Thread):
    """Peak sums over the process tree of ``root``: PSS of all, PSS of Ray's workers, RSS of all."""

    def __init__(self, root: int, every_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.root, self.every_s, self.stop = root, every_s, threading.Event()
        self.peak = {"pss": 0, "workers_pss": 0, "rss": 0}

    def run(self) -> None:
        while not self.stop.is_set():
            pss = rss = workers = 0
            for pid in _tree(self.root):
                p, r, name = _memory(pid)
                pss, rss = pss + p, rss + r
                workers += p if name.startswith("ray::") else 0  # trials, the store actor, idle workers
            for k, v in (("pss", pss), ("workers_pss", workers), ("rss", rss)):
                self.peak[k] = max(self.peak[k], v)
            self.stop.wait(self.every_s)


def measure(source: Path, data: Path, n: int, cores: int, attempts: int = 6) -> dict[str, float]:
    """One ``hartune run`` (a fresh store and Ray); retried when Ray's node misses its fixed 30-s start-up
    deadline, which a loaded machine can make it do."""
    for attempt in range(attempts):
        with tempfile.TemporaryDirectory(prefix="hm-", dir="/tmp") as tmp:
            d = Path(tmp)
            env = {**os.environ, "PYTHONPATH": str(source.resolve()), "RAY_TMPDIR": str(d / "r")}
            cmd = [sys.executable, "-m", "hartune.cli", "run", str(write_spec(d, data, n, cores)), "--quiet"]
            t0 = time.monotonic()
            proc = subprocess.Popen(
                cmd, env=env, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            sampler = Sampler(proc.pid)
            sampler.start()
            out, _ = proc.communicate()
            sampler.stop.set()
            sampler.join()
            if proc.returncode == 0:
                return {**{k: v / 2**30 for k, v in sampler.peak.items()}, "wall": time.monotonic() - t0}
            if "timed out during startup" not in out or attempt == attempts - 1:
                sys.exit(
                    f"hartune run ({source}, {data.name}, {n} trials) failed with exit {proc.returncode}:\n{out}"
                )
            print(f"  (Ray's node start-up timed out; again, load {os.getloadavg()[0]:.1f})", flush=True)
    raise AssertionError("unreachable")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="the platform/ folder of the tree to compare")
    ap.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[1] / "platform")
    ap.add_argument("--windows", type=int, default=11_000)
    ap.add_argument("--trials", default="1,2,4")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the tiny-data runs (then no data's share column: half the runs)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hartune-memory-data-") as tmp:
        big, tiny = Path(tmp) / "pamap2like.npz", Path(tmp) / "tiny.npz"
        write_data(big, args.windows)
        write_data(tiny, TINY_WINDOWS)
        mb = args.windows * WINDOW * CHANNELS * 4 / 2**20
        print(
            f"data: {args.windows} windows x {WINDOW} x {CHANNELS} float32 = {mb:.0f} MiB per copy; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        rows = []
        for n in [int(t) for t in args.trials.split(",")]:
            for label, tree in (("before", args.before), ("after", args.after)):
                full = measure(tree, big, n, args.cores)
                fixed = None if args.no_baseline else measure(tree, tiny, n, args.cores)
                rows.append((n, label, full, fixed))
                base = "" if fixed is None else f" (tiny data {fixed['pss']:.2f})"
                print(
                    f"  {n} trials, {label}: peak PSS {full['pss']:.2f} GiB{base}, workers {full['workers_pss']:.2f}, "
                    f"RSS {full['rss']:.2f}; {full['wall']:.0f} s; load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    print(
        "\n| trials at once | tree | peak PSS, node (GiB) | of it Ray workers | data's share (GiB) "
        "| data's share / one copy | peak RSS sum (GiB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, label, full, fixed in rows:
        share = "not measured" if fixed is None else f"{full['pss'] - fixed['pss']:.2f}"
        copies = "" if fixed is None else f"{(full['pss'] - fixed['pss']) * 1024 / mb:.1f}"
        print(
            f"| {n} | {label} | {full['pss']:.2f} | {full['workers_pss']:.2f} | {share} | {copies} | {full['rss']:.2f} |"
        )
    # what one more trial at once costs, per tree (from the fewest to the most trials measured)
    for label in ("before", "after"):
        mine = sorted((n, full["pss"]) for n, lab, full, _ in rows if lab == label)
        if len(mine) > 1:
            (n0, p0), (n1, p1) = mine[0], mine[-1]
            print(
                f"{label}: +{(p1 - p0) / (n1 - n0) * 1024:.0f} MiB of peak PSS per extra trial at once "
                f"({n0} -> {n1}); one copy of the windows is {mb:.0f} MiB"
            )


if __name__ == "__main__":
    main()
