"""Single-window inference latency of every registered model (USAD Table 5's protocol: batch 1 on CPU,
median of 100 runs after warm-up), its ratio to DeepConvLSTM's, and its share of the real-time budget
(a window predicted within 5% of its duration: 100 ms for 2 s windows at 50 Hz). The models are freshly
initialised (latency does not depend on the weights); the random forest is fitted on the watch data.
   python benchmarks/latency.py [--threads 1]
"""

from __future__ import annotations

import argparse

import torch

from hartune.data import DataConfig, WindowConfig, prepare
from hartune.deploy import profile_estimator, profile_model
from hartune.models import MODELS, create_estimator, create_model, torch_models
from hartune.models.forest import node_count

WINDOW, CHANNELS, CLASSES, RATE = 100, 6, 7, 50.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(0)
    figures = {}
    for name in torch_models():
        model = create_model(name, in_channels=CHANNELS, num_classes=CLASSES, window=WINDOW).eval()
        figures[name] = profile_model(model, WINDOW, CHANNELS, RATE, threads=args.threads)
    for name in MODELS.names():
        if name not in figures:  # scikit-learn: fitted on the real data first
            data = prepare(DataConfig(window=WindowConfig(length=WINDOW, stride=WINDOW)))
            est = create_estimator(name, in_channels=CHANNELS, num_classes=CLASSES, window=WINDOW)
            est.fit(data.train.x, data.train.y)
            figures[name] = profile_estimator(est, WINDOW, CHANNELS, RATE, node_count(est))
    ref = figures["deepconvlstm"]["latency_median_ms"]
    budget = figures[name]["realtime_budget_ms"]
    print(
        f"batch 1, CPU, {args.threads} thread(s), window {WINDOW}x{CHANNELS} at {RATE:g} Hz (budget {budget:g} ms)"
    )
    print(
        f"{'model':<15} {'params':>9} {'median ms':>10} {'p95 ms':>8} {'/ DeepConvLSTM':>15} {'/ budget':>9}"
    )
    for name, f in sorted(figures.items(), key=lambda kv: kv[1]["latency_median_ms"]):
        print(
            f"{name:<15} {int(f['num_parameters']):>9,} {f['latency_median_ms']:>10.3f} {f['latency_p95_ms']:>8.3f} "
            f"{f['latency_median_ms'] / ref:>15.2f} {f['latency_median_ms'] / f['realtime_budget_ms']:>9.4f}"
        )


if __name__ == "__main__":
    main()
