"""Training throughput: hartune's tensor-resident loop against a naive per-sample DataLoader.

USAD on the shipped smartwatch data (2 s windows), the same model, optimiser, loss and batch size both
ways; one epoch each, alternated ROUNDS times so that machine noise hits both sides. Prints windows per
second and their ratio (goal >= 3x).   python benchmarks/throughput.py [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, Dataset

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
    args = ap.parse_args()
    cfg = RunConfig.model_validate({
        "data": {"window": {"length": 100, "stride": 50}}, "model": {"name": "usad"},
        "train": {"epochs": 1, "batch_size": args.batch_size, "num_threads": args.threads, "device": "cpu"},
    })
    recipe = Recipe(cfg)
    recipe.setup()
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
