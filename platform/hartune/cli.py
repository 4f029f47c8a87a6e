"""``hartune``: the command. Only this module (with tune/ and tracking/) prints or writes files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hartune.registry import ConfigError, UnknownNameError
from hartune.tracking.store import redact

if TYPE_CHECKING:
    from hartune.train.types import Snapshot

EXIT_BAD_INPUT = 2
EXIT_REFUSED = 1  # promote: the candidate does not beat the champion


class EpochPrinter:
    """A recipe callback that prints one line per epoch."""

    def __init__(self, epochs: int, quiet: bool = False) -> None:
        self.epochs, self.quiet = epochs, quiet

    def on_epoch_end(self, epoch: int, m: dict[str, float], snapshot: Snapshot | None = None) -> None:
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
    from hartune.registry import validate_config
    from hartune.train import RunConfig, train

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
    subjects = {k: d.info[k] for k in ("train_subjects", "val_subjects", "test_subjects") if k in d.info}
    print(f"subjects {subjects}" if subjects else "random window split: subjects on both sides (leaky)")
    print(f"chance f1_macro ~ {1 / d.num_classes:.3f}; data fingerprint {d.fingerprint[:12]}")
    return 0


def _cluster_gpus(address: str | None, quiet: bool, planned: float | None = None) -> float:
    """GPUs to check ``resources.gpu`` against: ``--gpus`` (planning a cluster from a laptop), else
    the cluster's at ``address``, else this machine's."""
    if planned is not None:
        return planned
    if address:
        import ray

        from hartune.tune.runner import init_ray

        init_ray(address, quiet)
        return float(ray.cluster_resources().get("GPU", 0))
    import torch

    return float(torch.cuda.device_count())


def _checked(args: argparse.Namespace):  # -> (spec, path, hash, uri, trials)
    """Validation in full before any compute or tracking write: the spec, the store, the data."""
    from pathlib import Path

    from hartune.spec import check_spec, load_spec
    from hartune.tracking import check_reachable, resolve_uri

    path = Path(args.spec)
    spec, digest = load_spec(path)
    if getattr(args, "stage", None):
        spec.stage(args.stage)
    uri = resolve_uri(spec.tracking.uri)
    try:
        check_reachable(uri)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    planned = getattr(args, "gpus", None)
    if planned is not None and getattr(args, "dry_run", True) is False:
        raise ConfigError("--gpus plans for another cluster: use it with validate or run --dry-run")
    trials = check_spec(spec, path, _cluster_gpus(getattr(args, "address", None), True, planned))
    return spec, path, digest, uri, trials


def cmd_validate(args: argparse.Namespace) -> int:
    spec, path, _, uri, trials = _checked(args)
    print(f"{path}: valid; {len(spec.stages)} stages, {trials} trials; tracking {redact(uri)}")
    return 0


def print_plan(spec) -> None:  # noqa: ANN001
    for st in spec.stages:
        n = st.planned_trials(spec)
        src = f" from {st.from_stage}" if st.from_stage else ""
        print(f"stage {st.name} ({st.kind}{src}): {n} trials, metric {st.metric} ({st.mode})")
        for line in st.describe(spec):
            print(f"  {line}")
        if st.refit:
            print(f"  refit: the best configuration once on every subject of {st.dataset_keys(spec)[0]}, "
                  f"for the {st.refit_epochs} of its folds' best epochs")


def cmd_run(args: argparse.Namespace) -> int:
    import time

    from hartune.tracking import ui_command
    from hartune.tune.runner import SpecRunner

    spec, path, digest, uri, trials = _checked(args)
    if args.stage:
        spec = spec.model_copy(update={"stages": [s for s in spec.stages if s.name == args.stage or s.name in spec.upstream(args.stage)]})
    if args.dry_run:
        print_plan(spec)
        print(f"total: {sum(s.planned_trials(spec) for s in spec.stages)} trials")
        return 0
    t0 = time.perf_counter()
    summary = SpecRunner(spec, path, digest, uri, quiet=args.quiet).run(address=args.address, resume=args.resume)
    print(f"\n{spec.name}: done in {time.perf_counter() - t0:.0f}s; experiment {spec.experiment()!r}, "
          f"parent run {summary.parent_run_id}")
    for s in summary.stages:
        c = s.counts
        best = f"best {s.best.label} ({spec.stage(s.name).primary_metric} {s.best.value:.4f})" if s.best else "no finished trial"
        print(f"  stage {s.name}: {c['finished']} finished, {c['stopped']} stopped early, {c['failed']} failed; {best}")
        if s.refit_run:
            print(f"    refit on every subject: model logged to run {s.refit_run[:8]} (hartune promote picks it)")
    print(f"open the results: {redact(ui_command(uri))}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from hartune.tracking import resolve_uri
    from hartune.tracking import runs as R

    uri = resolve_uri(args.uri)
    c = R.client(uri)
    for name in R.experiments_with_runs(c):
        tree = R.RunTree(c, name)
        parents = tree.parents()
        print(f"{name}  ({len(parents)} runs)")
        for p in parents[: args.last]:
            print(f"  run {p.run_id[:8]}  {p.status:<8}  spec {p.tags.get(R.SPEC_HASH_TAG, '')[:8]}")
            for st in tree.stages(p):
                best = {k: v for k, v in st.metrics.items() if k.startswith("best_")}
                shown = ", ".join(f"{k.removeprefix('best_')} {v:.4f}" for k, v in best.items()) or "-"
                print(f"    stage {st.name:<16} best {st.tags.get(R.BEST_TAG, '-')}: {shown}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from hartune.tracking import check_reachable, resolve_uri
    from hartune.tracking.promote import promote

    uri = resolve_uri(args.uri)
    check_reachable(uri)
    out = promote(uri, args.experiment, metric=args.metric, name=args.name, stage=args.stage, parent=args.run, force=args.force)
    k = out.candidate
    if not out.promoted:
        print(f"hartune: promotion refused: {out.reason}", file=sys.stderr)
        return EXIT_REFUSED
    was = f"; version {out.champion[0]} is now @previous" if out.champion else ""
    forced = f" (forced: {out.reason})" if out.reason else ""
    from hartune.tracking.runs import REFIT_TAG

    valued = (f"cross-validated {k.metric} {k.value:.4f} (its refit on every subject)"
              if k.run.data.tags.get(REFIT_TAG) == "true" else f"{k.metric} {k.value:.4f}")
    print(f"{out.name} version {out.version} is @champion: run {k.run_id[:8]} ({k.run.info.run_name}), "
          f"{valued}{was}{forced}")
    print(f"load it: mlflow.pyfunc.load_model('models:/{out.name}@champion')  (tracking {redact(uri)})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from hartune.report.build import report
    from hartune.tracking import check_reachable, resolve_uri

    uri = resolve_uri(args.uri)
    check_reachable(uri)
    parent, reports = report(uri, args.experiment, run_id=args.run, stage=args.stage, out=args.out,
                             log=not args.no_log, tsne=not args.no_tsne, auc=args.auc)
    for r in reports:
        print(f"## {args.experiment} run {parent.run_id[:8]}, stage {r.stage} ({r.kind})\n")
        print(r.main.get(args.format, ""))
        for note in r.notes:
            print(f"note: {note}")
        logged = f"; logged to run {r.run_id[:8]} under report/" if not args.no_log else ""
        print(f"report folder: {r.folder.resolve()}{logged}\n")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from hartune.cluster import jobs

    c, sub = jobs.submit(args.spec, args.address, args.run_args)
    print(f"{args.spec}: valid here; {sub.trials} trials. Submitted to {c.get_address()} as job {sub.job_id}")
    print(f"  working dir {sub.working_dir}; entrypoint: {sub.entrypoint}")
    print(f"  environment passed: {', '.join(sub.env_names) or 'none'} (values not shown)")
    for note in sub.notes:
        print(f"note: {note}")
    if args.no_wait:
        print(f"follow it: hartune job logs {sub.job_id} --follow --address {c.get_address()}")
        return 0
    state = jobs.follow(c, sub.job_id)
    print(f"job {sub.job_id}: {state}")
    return 0 if state == "SUCCEEDED" else 1


def cmd_job(args: argparse.Namespace) -> int:
    from hartune.cluster import jobs

    c = jobs.client(args.address)
    if args.action == "status":
        info = jobs.status(c, args.id)
        print(f"job {args.id}: {info.status.value}" + (f" ({info.message})" if info.message else ""))
        print(f"  entrypoint: {info.entrypoint}")
    elif args.action == "logs" and args.follow:
        print(f"job {args.id}: {jobs.follow(c, args.id)}")
    elif args.action == "logs":
        print(jobs.logs(c, args.id), end="")
    else:
        print(f"job {args.id}: " + ("stop requested" if jobs.stop(c, args.id) else "already ended"))
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

    r = sub.add_parser("run", help="run a spec's stages through Ray Tune, tracked in MLflow")
    r.add_argument("spec")
    r.add_argument("--stage", help="run only this stage (and the stages it starts from)")
    r.add_argument("--dry-run", action="store_true", help="print the trial plan and count, run nothing")
    r.add_argument("--quiet", action="store_true", help="no progress table (CI)")
    r.add_argument("--address", help="an existing Ray cluster (default: start a local one)")
    r.add_argument("--resume", action="store_true",
                   help="continue this spec's last interrupted run: finished trials kept, unfinished ones resumed")
    r.add_argument("--gpus", type=float, help="with --dry-run: plan for a cluster with this many GPUs")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="validate a spec, its search spaces, data and tracking store")
    v.add_argument("spec")
    v.add_argument("--gpus", type=float, help="validate for a cluster with this many GPUs (default: this machine's)")
    v.set_defaults(func=cmd_validate)

    ls = sub.add_parser("ls", help="experiments, their stages and the best result of each")
    ls.add_argument("--uri", help="tracking URI (default: sqlite:///mlflow.db here)")
    ls.add_argument("--last", type=int, default=3, help="runs per experiment")
    ls.set_defaults(func=cmd_ls)

    pr = sub.add_parser("promote", help="register the best trial's model as a pyfunc; alias champion if it beats the current one")
    pr.add_argument("experiment")
    pr.add_argument("--stage", help="only this stage's trials (default: every stage of the run)")
    pr.add_argument("--metric", default="f1_macro", help="test metric to select and compare on (default f1_macro)")
    pr.add_argument("--name", help="registered model name (default: the experiment name)")
    pr.add_argument("--force", action="store_true", help="promote even if it does not beat the champion")
    pr.add_argument("--uri", help="tracking URI (default: sqlite:///mlflow.db here)")
    pr.add_argument("--run", help="parent run id or prefix (default: the latest)")
    pr.set_defaults(func=cmd_promote)

    rp = sub.add_parser("report", help="Table 2-style ablation table, search and per-model reports of a run")
    rp.add_argument("experiment")
    rp.add_argument("--stage", help="only this stage (default: every stage of the run)")
    rp.add_argument("--format", choices=["md", "csv", "tex", "html"], default="md",
                    help="format of the table printed (every format is written to the folder)")
    rp.add_argument("--out", help="folder (default: reports/<experiment>/<run id[:8]>/)")
    rp.add_argument("--uri", help="tracking URI (default: sqlite:///mlflow.db here)")
    rp.add_argument("--run", help="parent run id or prefix (default: the latest)")
    rp.add_argument("--no-log", action="store_true", help="do not log the report to the stage runs")
    rp.add_argument("--no-tsne", action="store_true", help="skip the t-SNE plots (Table 6 is still computed)")
    rp.add_argument("--auc", choices=["prob", "hard"], default="prob",
                    help="the AUC column: from probabilities (default) or hard labels, as the paper's numbers suggest")
    rp.set_defaults(func=cmd_report)

    sb = sub.add_parser("submit", help="submit a spec to a Ray cluster as a Ray Job; follow its logs",
                        usage="hartune submit SPEC [--address ADDR] [--no-wait] [-- RUN_ARGS (more `hartune run` arguments)]")
    sb.add_argument("spec")
    sb.add_argument("--address", help=f"the Jobs API (default: $RAY_ADDRESS, else {'http://127.0.0.1:8265'})")
    sb.add_argument("--no-wait", action="store_true", help="print the job id and return")
    sb.set_defaults(func=cmd_submit)

    jb = sub.add_parser("job", help="status, logs or stop of a submitted job")
    jb.add_argument("action", choices=["status", "logs", "stop"])
    jb.add_argument("id", help="the job id that submit printed")
    jb.add_argument("--address", help="the Jobs API (default: $RAY_ADDRESS, else http://127.0.0.1:8265)")
    jb.add_argument("--follow", action="store_true", help="logs: stream until the job ends")
    jb.set_defaults(func=cmd_job)
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """argparse cannot take a ``--`` after options, so ``submit``'s ``-- RUN_ARGS`` are split off first."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = build_parser()
    args = parser.parse_args(argv[:cut])
    if args.command == "submit":
        args.run_args = argv[cut + 1:]
    elif cut < len(argv):
        parser.error(f"{args.command} takes no -- arguments")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from hartune.data import DataError
    from hartune.spec import SpecError

    try:
        return args.func(args)
    except (ConfigError, UnknownNameError, DataError, SpecError) as e:
        print(f"hartune: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
