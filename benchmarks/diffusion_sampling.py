"""Diffusion sampling: DDIM (about 50 steps; deterministic, eta=0, and stochastic, eta=1) against full
ancestral DDPM (every one of T steps) from one trained generator. Prints the sampling-time ratio (goal >= 15x) and the train-on-synthetic /
test-on-real accuracy of each set (goal: within 2 points), with the real-data reference (TRTR).
   python benchmarks/diffusion_sampling.py [--timesteps 1000] [--epochs 30] [--per-class 60] [--draws 4]

One draw of a few hundred windows moves the TSTR accuracy by several points, so each sampler draws
`--draws` independent sets (seeds 0..draws-1); the accuracy is reported as mean +- std over draws and the
gap to DDPM as the mean of the per-seed differences.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hartune.augment import DiffusionGenerator, SamplingConfig, generator_config, tstr
from hartune.data import DataConfig, WindowConfig, prepare


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timesteps", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--ddim-steps", type=int, default=50)
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--draws", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = prepare(DataConfig(window=WindowConfig(length=100, stride=50)))
    cfg = generator_config(timesteps=args.timesteps, epochs=args.epochs, denoiser={"width": 32, "channel_mult": [1, 2]})
    gen = DiffusionGenerator(cfg, data.num_channels, data.num_classes, data.window)
    t0 = time.perf_counter()
    gen.fit(data.train.x, data.train.y)
    fit_s = time.perf_counter() - t0
    counts = {k: args.per_class for k in gen.fitted_classes}
    samplers = (("DDIM", SamplingConfig(sampler="ddim", ddim_steps=args.ddim_steps)),
                ("DDIM eta=1", SamplingConfig(sampler="ddim", ddim_steps=args.ddim_steps, ddim_eta=1.0)),
                ("DDPM", SamplingConfig(sampler="ddpm")))
    seconds = {name: 0.0 for name, _ in samplers}
    accuracy = {name: [] for name, _ in samplers}
    trtr = None
    for seed in range(args.draws):
        for name, sampling in samplers:
            t0 = time.perf_counter()
            synthetic = gen.sample(counts, sampling=sampling, seed=seed)
            seconds[name] += time.perf_counter() - t0
            q = tstr(synthetic, (data.train.x, data.train.y), (data.test.x, data.test.y))
            accuracy[name].append(q["tstr_accuracy"])
            trtr = q["trtr_accuracy"]
            print(f"  draw {seed}: {name:<10} TSTR accuracy {q['tstr_accuracy']:.3f}", flush=True)
    steps = {"DDIM": args.ddim_steps, "DDIM eta=1": args.ddim_steps, "DDPM": args.timesteps}
    print(f"generator: T={args.timesteps}, width 32, {args.epochs} epochs on {len(data.train.y)} watch windows "
          f"({fit_s:.0f} s); {sum(counts.values())} windows per draw, {args.draws} draws per sampler, "
          f"{args.threads} thread(s); real training windows (TRTR) {trtr:.3f}")
    for name, _ in samplers:
        acc = np.array(accuracy[name])
        print(f"  {name} ({steps[name]:>4} steps): {seconds[name] / args.draws:7.1f} s per draw   TSTR accuracy "
              f"{acc.mean():.3f} +- {acc.std(ddof=1) if len(acc) > 1 else 0:.3f}")
    for name in ("DDIM", "DDIM eta=1"):
        ratio = seconds["DDPM"] / seconds[name]
        diff = 100 * (np.array(accuracy["DDPM"]) - np.array(accuracy[name]))
        spread = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        print(f"{name} is {ratio:.1f}x faster than DDPM (goal >= 15x); TSTR accuracy DDPM - {name} = "
              f"{diff.mean():+.1f} points (standard error {spread:.1f}; goal within 2)")

if __name__ == "__main__":
    main()
