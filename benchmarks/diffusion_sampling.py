"""Diffusion sampling: DDIM (about 50 steps; deterministic, eta=0, and stochastic, eta=1) against full
ancestral DDPM (every one of T steps) from one trained generator. Prints the sampling-time ratio (goal >= 15x) and the train-on-synthetic /
test-on-real accuracy of each set (goal: within 2 points), with the real-data reference (TRTR).
   python benchmarks/diffusion_sampling.py [--timesteps 1000] [--epochs 30] [--per-class 60]
"""

from __future__ import annotations

import argparse
import time

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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = prepare(DataConfig(window=WindowConfig(length=100, stride=50)))
    cfg = generator_config(timesteps=args.timesteps, epochs=args.epochs, denoiser={"width": 32, "channel_mult": [1, 2]})
    gen = DiffusionGenerator(cfg, data.num_channels, data.num_classes, data.window)
    t0 = time.perf_counter()
    gen.fit(data.train.x, data.train.y)
    fit_s = time.perf_counter() - t0
    counts = {k: args.per_class for k in gen.fitted_classes}
    results = {}
    samplers = (("DDIM", SamplingConfig(sampler="ddim", ddim_steps=args.ddim_steps)),
                ("DDIM eta=1", SamplingConfig(sampler="ddim", ddim_steps=args.ddim_steps, ddim_eta=1.0)),
                ("DDPM", SamplingConfig(sampler="ddpm")))
    for name, sampling in samplers:
        t0 = time.perf_counter()
        synthetic = gen.sample(counts, sampling=sampling, seed=0)
        seconds = time.perf_counter() - t0
        results[name] = (seconds, tstr(synthetic, (data.train.x, data.train.y), (data.test.x, data.test.y)))
    steps = {"DDIM": args.ddim_steps, "DDIM eta=1": args.ddim_steps, "DDPM": args.timesteps}
    print(f"generator: T={args.timesteps}, width 32, {args.epochs} epochs on {len(data.train.y)} watch windows "
          f"({fit_s:.0f} s); {sum(counts.values())} windows sampled per sampler, {args.threads} thread(s)")
    for name, (seconds, q) in results.items():
        print(f"  {name} ({steps[name]:>4} steps): {seconds:7.1f} s   TSTR accuracy {q['tstr_accuracy']:.3f}"
              f"   (TRTR {q['trtr_accuracy']:.3f})")
    for name in ("DDIM", "DDIM eta=1"):
        ratio = results["DDPM"][0] / results[name][0]
        gap = 100 * (results["DDPM"][1]["tstr_accuracy"] - results[name][1]["tstr_accuracy"])
        print(f"{name} is {ratio:.1f}x faster than DDPM (goal >= 15x); TSTR accuracy DDPM - {name} = "
              f"{gap:+.1f} points (goal within 2)")


if __name__ == "__main__":
    main()
