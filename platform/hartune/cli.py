"""``hartune``: the command. Only this module (with tune/ and tracking/) prints or writes files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hartune.registry import ConfigError, UnknownNameError

EXIT_BAD_INPUT = 2


class EpochPrinter:
    """A recipe callback that prints one line per epoch."""

    def __init__(self, epochs: int, quiet: bool = False) -> None:
        self.epochs, self.quiet = epochs, quiet

    def on_epoch_end(self, epoch: int, m: dict[str, float]) -> None:
        if not self.quiet:
            print(
                f"epoch {epoch:>3}/{self.epochs}  train_loss {m['train_loss']:.4f}  "
                f"val_loss {m['val_loss']:.4f}  val_acc {m['val_accuracy']:.4f}  "
                f"val_f1 {m['val_f1_macro']:.4f}  ({m['epoch_time_s']:.1f}s)",
                flush=True,
            )


def format_metrics(metrics: dict[str, float], keys: Sequence[str]) -> str:
    return "  ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics)


TEST_KEYS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "gmean", "auc_macro", "ece")


def cmd_train(args: argparse.Namespace) -> int:
    from hartune.train import RunConfig, train
    from hartune.registry import validate_config

    split: dict[str, object] = {"kind": args.split}
    if args.fold is not None:
        split["fold"] = args.fold
    raw = {
        "data": {
            "dataset": {"name": args.dataset, **({"path": args.path} if args.path else {})},
            "window": {"length": args.window, "stride": args.stride or args.window // 2},
            "split": split,
            **({"imbalance": {"ratio": args.imbalance}} if args.imbalance else {}),
        },
        "model": {"name": args.model},
        "loss": {"name": args.loss},
        "train": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr},
        "seed": args.seed,
    }
    cfg = validate_config(RunConfig, raw)
    result = train(cfg, callbacks=[EpochPrinter(args.epochs, args.quiet)])
    d = result.data
    print(
        f"{args.model} on {args.dataset} ({args.split} split{', LEAKY' if d.leaky_split else ''}): "
        f"{d.info['windows']} windows, {result.num_parameters:,} parameters, best epoch {result.best_epoch}"
    )
    print("test  " + format_metrics(result.test, TEST_KEYS))
    print(f"chance f1_macro ~ {1 / d.num_classes:.3f}; data fingerprint {d.fingerprint[:12]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hartune", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model on one dataset with the one recipe; print test metrics")
    t.add_argument("--dataset", default="watch")
    t.add_argument("--path", help="data file for datasets that take one (e.g. arrays)")
    t.add_argument("--model", default="usad")
    t.add_argument("--loss", default="ce")
    t.add_argument("--split", default="holdout")
    t.add_argument("--fold", type=int)
    t.add_argument("--window", type=int, default=100)
    t.add_argument("--stride", type=int)
    t.add_argument("--imbalance", type=float, help="induce largest/smallest class ratio in train")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from hartune.data import DataError

    try:
        return args.func(args)
    except (ConfigError, UnknownNameError, DataError) as e:
        print(f"hartune: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
