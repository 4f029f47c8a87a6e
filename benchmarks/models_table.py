"""The README's "Models" table: every registered model with its reference, its parameters on USAD Table
5's two shapes (WISDM: 90 x 3, 6 classes; OPPORTUNITY: 30 x 113, 18 classes), paper against ours, and
its batch-1 CPU latency on those shapes from the deployment profiler (``hartune.deploy.profile_model``:
median of 100 forward passes after 10 warm-up ones, freshly initialised weights, ``--threads`` intra-op
threads). Each model is profiled ``--repeats`` times, the models taken in turn so that a burst of load
on a shared machine spreads over all of them; the table gives the median of those medians.

The random forest has no parameters to count (its node count depends on the data it was fitted on):
for its latency it is fitted on 1,000 windows of each shape drawn from class-dependent Gaussians.

   python benchmarks/models_table.py [--threads 1] [--repeats 3] [--readme README.md]

``--readme`` rewrites the table between the README's ``<!-- models-table -->`` markers (and the line
that says how it was measured); ``tests/test_readme.py`` recounts its parameter columns.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import Pipeline

from hartune.deploy import profile_estimator, profile_model
from hartune.models import MODELS, count_parameters, create_estimator, create_model, torch_models
from hartune.models.forest import node_count
from hartune.models.sources import SOURCES, TABLE5_SHAPES

RATES = {"WISDM": 20.0, "OPPORTUNITY": 30.0}  # Hz; only the real-time verdict reads it, not shown here
BEGIN, END = "<!-- models-table -->", "<!-- /models-table -->"


def sci(x: float) -> str:
    """3 significant figures in the README's style: 2.32e6."""
    mantissa, exp = f"{x:.2e}".split("e")
    return f"{mantissa}e{int(exp)}"


def fitted_forest(shape: tuple[int, int, int]) -> Pipeline:
    """The random forest fitted on 1,000 class-dependent Gaussian windows of ``shape`` (window, channels,
    classes): a forest of that input's size, for its latency only."""
    window, channels, classes = shape
    rng = np.random.default_rng(0)
    y = np.arange(1000) % classes
    x = (rng.standard_normal((1000, window, channels)) + y[:, None, None] * 0.5).astype(np.float32)
    est = create_estimator("random_forest", in_channels=channels, num_classes=classes, window=window)
    return est.fit(x, y)


def latencies(threads: int, repeats: int) -> dict[tuple[str, str], float]:
    """(model, dataset) -> median over ``repeats`` of the profiler's median batch-1 latency (ms)."""
    torch.manual_seed(0)
    built = {}
    for name in MODELS.names():
        for dataset, shape in TABLE5_SHAPES.items():
            window, channels, classes = shape
            if name in torch_models():
                built[name, dataset] = create_model(
                    name, in_channels=channels, num_classes=classes, window=window
                ).eval()
            else:
                built[name, dataset] = fitted_forest(shape)
    runs: dict[tuple[str, str], list[float]] = {k: [] for k in built}
    for _ in range(repeats):
        for (name, dataset), model in built.items():
            window, channels, _ = TABLE5_SHAPES[dataset]
            if isinstance(model, torch.nn.Module):
                f = profile_model(model, window, channels, RATES[dataset], threads=threads)
            else:
                f = profile_estimator(model, window, channels, RATES[dataset], node_count(model))
            runs[name, dataset].append(f["latency_median_ms"])
    return {k: statistics.median(v) for k, v in runs.items()}


def rows(lat: dict[tuple[str, str], float]) -> list[str]:
    head = [
        "model",
        "reference",
        "Table 5 row",
        "WISDM paper",
        "WISDM ours",
        "ratio",
        "OPPORTUNITY paper",
        "OPPORTUNITY ours",
        "ratio",
        "latency WISDM (ms)",
        "latency OPPORTUNITY (ms)",
    ]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in MODELS.names():
        src = SOURCES[name]
        cells = [f"`{name}`", src.reference, src.table5_row or "—"]
        for dataset, (window, channels, classes) in TABLE5_SHAPES.items():
            paper = src.table5(dataset)
            ours = None
            if name in torch_models():
                ours = count_parameters(
                    create_model(name, in_channels=channels, num_classes=classes, window=window)
                )
            cells += [
                sci(paper) if paper else "—",
                sci(ours) if ours else "—",
                f"{ours / paper:.2f}" if paper and ours else "—",
            ]
        cells += [f"{lat[name, d]:.3g}" for d in TABLE5_SHAPES]
        out.append("| " + " | ".join(cells) + " |")
    return out


def write_readme(path: Path, table: list[str], note: str) -> None:
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} block to rewrite")
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    path.write_text(before + BEGIN + "\n" + note + "\n\n" + "\n".join(table) + "\n" + END + after)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--readme", type=Path, help="rewrite the table in this README")
    args = ap.parse_args()
    load_before = os.getloadavg()
    lat = latencies(args.threads, args.repeats)
    load_after = os.getloadavg()
    table = rows(lat)
    cores = len(os.sched_getaffinity(0))
    note = (
        f"Latency: `python benchmarks/models_table.py --threads {args.threads} --repeats {args.repeats}`, "
        f"{datetime.date.today().isoformat()}, torch {torch.__version__}, {cores} cores, batch 1, "
        f"{args.threads} thread(s), median of {args.repeats} profiler medians; 1-minute load average "
        f"{load_before[0]:.1f} before and {load_after[0]:.1f} after (a shared machine: compare rows, "
        f"not machines)."
    )
    print(note)
    print("\n".join(table))
    if args.readme:
        write_readme(args.readme, table, note)
        print(f"rewrote the table in {args.readme}")


if __name__ == "__main__":
    main()
