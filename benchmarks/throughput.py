"""Training throughput: hartune's tensor-resident loop against a naive per-sample DataLoader, and USAD's
achieved training FLOP/s against the machine's float32 matrix-multiply rate.

USAD on the shipped smartwatch data (2 s windows), the same model, optimiser, loss and batch size both
ways; one epoch each, alternated ROUNDS times so that machine noise hits both sides. Prints windows per
second and their ratio (goal >= 3x).   python benchmarks/throughput.py [--rounds 3] [--threads 2]

FLOP/s: ``torch.utils.flop_counter.FlopCounterMode`` counts one training step's forward and backward
(matrix products and convolutions: the ops it has formulas for; the elementwise ops and the optimiser
are not counted), scaled to the epoch; achieved = those FLOPs / the epoch's time. The reference is a
large float32 matmul (``--matmul-n``, 2 n^3 FLOPs) on the same threads, timed in the same rounds as the
epochs, alternated. Utilisation = achieved / matmul, the median over the rounds. ``train.compile`` is
measured the same way (its compile time kept out: one warm-up epoch); ``--no-compile`` skips it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from hartune.train import RunConfig
from hartune.train.recipe import Recipe


class Windows(Dataset):
    """The textbook way: one window per __getitem__, collated by the DataLoader."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def naive_epoch(recipe: Recipe, loader: DataLoader) -> int:
    recipe.model.train()
    n = 0
    for x, y in loader:
        if len(y) < 2:
            continue
        loss, _ = recipe.loss_fn(recipe.model(x), y)
        recipe.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        recipe.optimizer.step()
        n += len(y)
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--matmul-n", type=int, default=2048)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--skip-loader", action="store_true", help="only the FLOP/s part")
    args = ap.parse_args()
    cfg = RunConfig.model_validate({
        "data": {"window": {"length": 100, "stride": 50}}, "model": {"name": "usad"},
        "train": {"epochs": 1, "batch_size": args.batch_size, "num_threads": args.threads, "device": "cpu"},
    })
    recipe = Recipe(cfg)
    recipe.setup()
    if not args.skip_loader:
        loader_vs_hartune(args, recipe)
    flops_utilisation(args, cfg, recipe)


def step_flops(recipe: Recipe, batch_size: int) -> int:
    """FLOPs of one training step's forward and backward at ``batch_size`` (counted, not timed)."""
    recipe.model.train()
    x, y = recipe.train_x[:batch_size], recipe.train_y[:batch_size]
    with FlopCounterMode(display=False) as counter:
        loss, _ = recipe.loss_fn(recipe.model(x), y)
        loss.backward()
    recipe.optimizer.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_flops_per_s(n: int, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times)


def flops_utilisation(args: argparse.Namespace, cfg: RunConfig, eager: Recipe) -> None:
    n, bs = len(eager.train_y), args.batch_size
    epoch_flops = step_flops(eager, bs) * n / bs  # every counted op is linear in the batch size
    recipes = {"eager": eager}
    if not args.no_compile:
        compiled = Recipe(cfg.model_copy(update={"train": cfg.train.model_copy(update={"compile": True})}))
        compiled.setup()
        t0 = time.perf_counter()
        compiled.train_epoch(1)  # compiles the graphs (a full and the last, shorter batch)
        print(f"train.compile: first epoch (compiling) {time.perf_counter() - t0:.1f} s")
        recipes["compiled"] = compiled
    rows: dict[str, list[float]] = {k: [] for k in ("matmul", *recipes)}
    util: dict[str, list[float]] = {k: [] for k in recipes}
    for r in range(args.rounds):
        peak = matmul_flops_per_s(args.matmul_n)
        rows["matmul"].append(peak)
        for name, recipe in recipes.items():
            t0 = time.perf_counter()
            recipe.train_epoch(r + 2)
            rows[name].append(epoch_flops / (time.perf_counter() - t0))
            util[name].append(rows[name][-1] / peak)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"FLOP/s, {args.threads} threads, {args.rounds} rounds (median; each round: matmul, then an epoch of each):")
    print(f"  one training step (batch {bs}), forward + backward: {epoch_flops * bs / n / 1e9:.3f} GFLOP counted")
    print(f"  float32 matmul {args.matmul_n}^3: {med['matmul'] / 1e9:8.1f} GFLOP/s "
          f"({', '.join(f'{v / 1e9:.1f}' for v in rows['matmul'])})")
    for name in recipes:
        print(f"  USAD training, {name:<8}: {med[name] / 1e9:8.1f} GFLOP/s; utilisation "
              f"{statistics.median(util[name]):.1%} ({', '.join(f'{u:.1%}' for u in util[name])})")
    if "compiled" in recipes:
        print(f"compiled / eager epoch speed: {med['compiled'] / med['eager']:.2f}x "
              f"(keep train.compile's default false unless > 1)")


def loader_vs_hartune(args: argparse.Namespace, recipe: Recipe) -> None:
    loader = DataLoader(Windows(recipe.train_x, recipe.train_y), batch_size=args.batch_size, shuffle=True)
    n = len(recipe.train_y)
    rates = {"hartune": [], "dataloader": []}
    for r in range(args.rounds):
        t0 = time.perf_counter()
        recipe.train_epoch(r + 1)
        rates["hartune"].append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        seen = naive_epoch(recipe, loader)
        rates["dataloader"].append(seen / (time.perf_counter() - t0))
    # the input pipeline alone (no model): where the two loops actually differ
    for r in range(args.rounds):
        order = torch.randperm(n, generator=recipe.generator)
        t0 = time.perf_counter()
        for start in range(0, n, args.batch_size):
            idx = order[start : start + args.batch_size]
            recipe.train_x[idx], recipe.train_y[idx]
        rates.setdefault("hartune batches only", []).append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _x, _y in loader:
            pass
        rates.setdefault("dataloader batches only", []).append(n / (time.perf_counter() - t0))
    best = {k: max(v) for k, v in rates.items()}
    print(f"USAD, {n} training windows of 100x6, batch {args.batch_size}, {args.threads} threads, {args.rounds} rounds")
    for k, v in rates.items():
        print(f"  {k:<11} {best[k]:8.0f} windows/s (best of {', '.join(f'{x:.0f}' for x in v)})")
    print(f"ratio hartune / dataloader, training: {best['hartune'] / best['dataloader']:.2f}x (goal >= 3x)")
    print(f"ratio hartune / dataloader, batches only: "
          f"{best['hartune batches only'] / best['dataloader batches only']:.1f}x")
    share = best["hartune"] / best["hartune batches only"]
    print(f"input pipeline share of a naive epoch: {best['hartune'] / best['dataloader batches only']:.1%}; "
          f"of hartune's: {share:.2%}")


if __name__ == "__main__":
    main()
