"""hartune: hyperparameter and ablation studies for wearable-sensor activity recognition.

Write a spec (YAML: datasets, models, seeds, stages), check it, run it on Ray Tune, read the results
from MLflow, and register the best model.
"""
# Only this module (with tune/ and tracking/) prints or writes files.

from __future__ import annotations

import argparse
import contextlib
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


TEST_KEYS = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "f1_weighted",
    "gmean",
    "auc_macro",
    "ece",
)


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


def _cluster_gpus(address: str | None, planned: float | None = None) -> float:
    """GPUs to check ``resources.gpu`` against: ``--gpus`` (planning a cluster from a laptop), else
    the cluster's at ``address``, else this machine's."""
    if planned is not None:
        return planned
    if address:
        import ray

        from hartune.tune.runner import init_ray

        init_ray(address)
        return float(ray.cluster_resources().get("GPU", 0))
    import torch

    return float(torch.cuda.device_count())


def _checked(
    args: argparse.Namespace, plan: bool = False, probe: bool = False
):  # -> (spec, path, hash, uri, trials)
    """Validation in full before any compute or tracking write: the spec, the store, the data. A
    ``plan`` (``--dry-run``, ``validate --no-data``) checks everything that needs no data and reads or
    downloads none: types, names, every trial's run config, trial counts, GPUs. ``probe`` (``run``)
    also write-probes every local folder the run writes (``tune.runner.check_writable``)."""
    from pathlib import Path

    from hartune.spec import check_spec, load_spec
    from hartune.tracking import check_reachable, resolve_uri

    path = Path(args.spec)
    spec, digest = load_spec(path)
    if plan:
        spec = spec.without_data()
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
    trials = check_spec(
        spec, path, _cluster_gpus(getattr(args, "address", None), planned), prepare_data=not plan
    )
    if probe:
        from hartune.tune.runner import check_writable

        try:
            check_writable(spec, uri)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return spec, path, digest, uri, trials


def cmd_validate(args: argparse.Namespace) -> int:
    from hartune import progress
    from hartune.tune.progress import make_sink

    previous = progress.set_sink(make_sink())
    try:
        spec, path, _, uri, trials = _checked(args, plan=args.no_data)
    finally:
        _close(progress.set_sink(previous))
    checked = "valid without its data (not read)" if args.no_data else "valid"
    print(f"{path}: {checked}; {len(spec.stages)} stages, {trials} trials; tracking {redact(uri)}")
    if args.no_data:
        print_data(spec)
    return 0


def _close(sink: object) -> None:
    close = getattr(sink, "close", None)
    if close is not None:
        close()


def print_data(spec) -> None:
    """Each dataset entry's files, whether they are here, and where they would come from."""
    for key, entry in spec.datasets.items():
        note = spec.fold_note(key)
        print(
            f"data {key} ({entry.dataset.name}): {entry.dataset.origin().describe()}"
            + (f"; {note}" if note else "")
        )


def print_plan(spec) -> None:
    print_data(spec)
    for st in spec.stages:
        n = st.planned_trials(spec)
        src = f" from {st.from_stage}" if st.from_stage else ""
        print(f"stage {st.name} ({st.kind}{src}): {n} trials, metric {st.metric} ({st.mode})")
        for line in st.describe(spec):
            print(f"  {line}")
        if st.refit:
            print(
                f"  refit: the best configuration once on every subject of {st.dataset_keys(spec)[0]}, "
                f"for the {st.refit_epochs} of its folds' best epochs"
            )


def cmd_run(args: argparse.Namespace) -> int:
    from hartune import progress
    from hartune.tune.progress import LiveView, make_view

    if args.dry_run:
        spec = _checked(args, plan=True)[0]
        spec = _only_stage(spec, args.stage)
        print_plan(spec)
        print(f"total: {sum(s.planned_trials(spec) for s in spec.stages)} trials")
        return 0
    view = make_view(quiet=args.quiet, verbose=args.verbose)
    previous = progress.set_sink(view if isinstance(view, LiveView) else _line_sink(args.quiet))
    try:
        return _run(args, view)
    finally:
        view.close()
        progress.set_sink(previous)


def _line_sink(quiet: bool):
    from hartune import progress
    from hartune.tune.progress import LineSink

    return progress.NullSink() if quiet else LineSink()


def _only_stage(spec, stage: str | None):
    """``--stage``: that stage and the stages it starts from."""
    if not stage:
        return spec
    return spec.model_copy(
        update={"stages": [s for s in spec.stages if s.name == stage or s.name in spec.upstream(stage)]}
    )


def _run(args: argparse.Namespace, view) -> int:
    from hartune.tune.runner import SpecRunner

    spec, path, digest, uri, _ = _checked(args, probe=True)
    spec = _only_stage(spec, args.stage)
    summary = SpecRunner(spec, path, digest, uri, view=view, verbose=args.verbose).run(
        address=args.address, resume=args.resume
    )
    print(summary.headline)
    print(f"open the results: {open_hint(path, uri, summary.experiment_id)}")
    return 0


def open_hint(spec_path: object, uri: str, experiment_id: str) -> str:
    """The command (or, for a server, the address) that shows the run in the MLflow UI."""
    from hartune.tracking.ui import runs_url

    if uri.startswith(("http://", "https://")):
        return redact(runs_url(uri, experiment_id))
    return f"hartune ui {spec_path}"


def cmd_ls(args: argparse.Namespace) -> int:
    from hartune.tracking import require_store, resolve_uri
    from hartune.tracking import runs as R

    uri = resolve_uri(args.uri)
    require_store(uri)
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
    from hartune.tracking import require_store, resolve_uri
    from hartune.tracking.promote import promote

    uri = resolve_uri(args.uri)
    require_store(uri)
    out = promote(
        uri,
        args.experiment,
        metric=args.metric,
        name=args.name,
        stage=args.stage,
        parent=args.run,
        force=args.force,
    )
    k = out.candidate
    if not out.promoted:
        print(f"hartune: promotion refused: {out.reason}", file=sys.stderr)
        return EXIT_REFUSED
    was = f"; version {out.champion[0]} is now @previous" if out.champion else ""
    forced = f" (forced: {out.reason})" if out.reason else ""
    from hartune.tracking.runs import REFIT_TAG

    valued = (
        f"cross-validated {k.metric} {k.value:.4f} (its refit on every subject)"
        if k.run.data.tags.get(REFIT_TAG) == "true"
        else f"{k.metric} {k.value:.4f}"
    )
    print(
        f"{out.name} version {out.version} is @champion: run {k.run_id[:8]} ({k.run.info.run_name}), "
        f"{valued}{was}{forced}"
    )
    print(f"load it: mlflow.pyfunc.load_model('models:/{out.name}@champion')  (tracking {redact(uri)})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from hartune import progress
    from hartune.report.build import report
    from hartune.tracking import require_store, resolve_uri
    from hartune.tune.progress import make_sink

    uri = resolve_uri(args.uri)
    require_store(uri)
    previous = progress.set_sink(make_sink())
    try:
        parent, reports = report(
            uri,
            args.experiment,
            run_id=args.run,
            stage=args.stage,
            out=args.out,
            log=not args.no_log,
            tsne=not args.no_tsne,
            auc=args.auc,
        )
    finally:
        _close(progress.set_sink(previous))
    for r in reports:
        print(f"## {args.experiment} run {parent.run_id[:8]}, stage {r.stage} ({r.kind})\n")
        print(r.main.get(args.format, ""))
        for note in r.notes:
            print(f"note: {note}")
        logged = f"; logged to run {r.run_id[:8]} under report/" if not args.no_log else ""
        print(f"report folder: {r.folder.resolve()}{logged}\n")
    page = reports[0].folder.parent / "index.html"
    if page.is_file():
        print(
            f"the whole run on one page: {page.resolve()}"
            + ("; logged to every stage run under report/" if not args.no_log else "")
        )
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from hartune.tracking import ui

    return ui.main(args.target, args.uri, args.host, args.port)


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


def _command(sub, name: str, purpose: str, example: str, **kw):
    """A subcommand whose ``--help`` starts with its one-line purpose and ends with an example."""
    return sub.add_parser(
        name,
        help=purpose,
        description=purpose,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kw,
    )


URI_HELP = "tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hartune",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workflow:\n  hartune validate ablations/usad_quick.yaml\n  hartune run ablations/usad_quick.yaml\n"
        "  hartune report usad_quick\n  hartune ui ablations/usad_quick.yaml\n\n"
        "hartune COMMAND --help shows a command's options and an example.",
    )
    # in the order of the workflow: check, run, look, report, register, browse; then clusters; then one run
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    v = _command(
        sub,
        "validate",
        "check a spec, its search spaces, data and tracking store before anything runs",
        "hartune validate ablations/usad_full.yaml --no-data --gpus 8",
    )
    v.add_argument("spec")
    v.add_argument(
        "--gpus", type=float, help="validate for a cluster with this many GPUs (default: this machine's)"
    )
    v.add_argument(
        "--no-data",
        action="store_true",
        help="check everything that needs no data and read or download none; name each dataset's files",
    )
    v.set_defaults(func=cmd_validate)

    r = _command(
        sub,
        "run",
        "run a spec's stages as Ray Tune experiments, tracked in MLflow, with a live view",
        "hartune run ablations/usad_quick.yaml   (plan only: --dry-run; on a cluster: --address auto)",
    )
    r.add_argument("spec")
    r.add_argument("--stage", help="run only this stage (and the stages it starts from)")
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (data files, stages, trial counts) and run nothing; needs no data",
    )
    r.add_argument("--gpus", type=float, help="with --dry-run: plan for a cluster with this many GPUs")
    r.add_argument("--quiet", action="store_true", help="only each stage's summary line and the result")
    r.add_argument(
        "--verbose",
        action="store_true",
        help="also Ray Tune's own progress tables and the workers' output (always in Ray's storage folder)",
    )
    r.add_argument("--address", help="an existing Ray cluster (default: start a local one)")
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue this spec's last interrupted run: finished trials kept, unfinished ones resumed",
    )
    r.set_defaults(func=cmd_run)

    ls = _command(
        sub,
        "ls",
        "list the experiments of a store, their runs and each stage's best result",
        "hartune ls --last 1",
    )
    ls.add_argument("--uri", help=URI_HELP)
    ls.add_argument("--last", type=int, default=3, help="runs per experiment")
    ls.set_defaults(func=cmd_ls)

    rp = _command(
        sub,
        "report",
        "write a run's tables, figures and one self-contained page (index.html)",
        "hartune report usad_quick --stage table2 --format tex",
    )
    rp.add_argument("experiment")
    rp.add_argument("--stage", help="only this stage (default: every stage of the run)")
    rp.add_argument(
        "--format",
        choices=["md", "csv", "tex", "html"],
        default="md",
        help="format of the table printed (every format is written to the folder)",
    )
    rp.add_argument("--out", help="folder (default: reports/<experiment>/<run id[:8]>/)")
    rp.add_argument("--uri", help=URI_HELP)
    rp.add_argument("--run", help="parent run id or prefix (default: the latest)")
    rp.add_argument("--no-log", action="store_true", help="do not log the report to the stage runs")
    rp.add_argument("--no-tsne", action="store_true", help="skip the t-SNE plots (Table 6 is still computed)")
    rp.add_argument(
        "--auc",
        choices=["prob", "hard"],
        default="prob",
        help="the AUC column: from probabilities (default) or hard labels, as the paper's numbers suggest",
    )
    rp.set_defaults(func=cmd_report)

    pr = _command(
        sub,
        "promote",
        "register a run's best model as NAME@champion if it beats the current champion",
        "hartune promote usad_quick --stage table2 --metric f1_macro",
    )
    pr.add_argument("experiment")
    pr.add_argument("--stage", help="only this stage's trials (default: every stage of the run)")
    pr.add_argument(
        "--metric", default="f1_macro", help="test metric to select and compare on (default f1_macro)"
    )
    pr.add_argument("--name", help="registered model name (default: the experiment name)")
    pr.add_argument("--force", action="store_true", help="promote even if it does not beat the champion")
    pr.add_argument("--uri", help=URI_HELP)
    pr.add_argument("--run", help="parent run id or prefix (default: the latest)")
    pr.set_defaults(func=cmd_promote)

    u = _command(
        sub,
        "ui",
        "open the MLflow UI on a store, at an experiment's training runs",
        "hartune ui ablations/usad_quick.yaml   (or: hartune ui usad_quick --uri sqlite:///mlflow.db)",
    )
    u.add_argument(
        "target",
        nargs="?",
        metavar="EXPERIMENT",
        help="an experiment name, or a spec file (its store and experiment)",
    )
    u.add_argument("--uri", help=URI_HELP)
    u.add_argument("--host", default="127.0.0.1", help="where the UI listens (default 127.0.0.1)")
    u.add_argument("--port", type=int, default=5000, help="default 5000")
    u.set_defaults(func=cmd_ui)

    sb = _command(
        sub,
        "submit",
        "run a spec on a Ray cluster as a Ray Job and follow its logs",
        "hartune submit ablations/usad_full.yaml --address http://HEAD:8265 -- --stage table2",
        usage="hartune submit SPEC [--address ADDR] [--no-wait] [-- RUN_ARGS (more `hartune run` arguments)]",
    )
    sb.add_argument("spec")
    sb.add_argument("--address", help=f"the Jobs API (default: $RAY_ADDRESS, else {'http://127.0.0.1:8265'})")
    sb.add_argument("--no-wait", action="store_true", help="print the job id and return")
    sb.set_defaults(func=cmd_submit)

    jb = _command(
        sub,
        "job",
        "show a submitted job's status or logs, or stop it",
        "hartune job logs raysubmit_XXXX --follow",
    )
    jb.add_argument("action", choices=["status", "logs", "stop"])
    jb.add_argument("id", help="the job id that submit printed")
    jb.add_argument("--address", help="the Jobs API (default: $RAY_ADDRESS, else http://127.0.0.1:8265)")
    jb.add_argument("--follow", action="store_true", help="logs: stream until the job ends")
    jb.set_defaults(func=cmd_job)

    t = _command(
        sub,
        "train",
        "train one model on one dataset with the training recipe; no Ray, no MLflow",
        "hartune train --dataset watch --model usad --epochs 5",
    )
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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """argparse cannot take a ``--`` after options, so ``submit``'s ``-- RUN_ARGS`` are split off first."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = build_parser()
    args = parser.parse_args(argv[:cut])
    if args.command == "submit":
        args.run_args = argv[cut + 1 :]
    elif cut < len(argv):
        parser.error(f"{args.command} takes no -- arguments")
    return args


# every character str.splitlines() breaks at, shown escaped: a key or value quoted from a bad spec can
# hold one (a YAML key "\r"), and the error must stay one line
_LINE_BREAKS = {
    ord(c): c.encode("unicode_escape").decode() for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
}


def one_line(text: str) -> str:
    return text.translate(_LINE_BREAKS)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from hartune.data import DataError
    from hartune.integrity import StorageFailed
    from hartune.spec import SpecError
    from hartune.tracking.retry import TrackingUnavailable

    try:
        return args.func(args)
    except (ConfigError, UnknownNameError, DataError, SpecError) as e:
        print(f"hartune: error: {one_line(str(e))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (TrackingUnavailable, StorageFailed) as e:  # a store went away mid-run (tracking.retry_s), a full disk
        print(f"hartune: error: {one_line(str(e))}", file=sys.stderr)
        return 1


def entry() -> None:
    """The ``hartune`` command: ``main()``, then the process ends without the interpreter's own teardown.

    Everything registered to run at exit still runs first (Ray's shutdown of the local cluster this run
    started, logging's flush, MLflow's), and standard output and error are flushed; only CPython's
    finalisation of the loaded extension modules (torch, Ray's core worker, gRPC) is skipped: 1.84 s
    of a script that starts Ray and imports torch and MLflow, on the 2-core machine (3.46 s to exit
    normally, 1.62 s this way; benchmarks/README.md §1b). Called in-process
    (tests, ``hartune.cli.main``), nothing of this applies."""
    import atexit
    import os

    code = 1
    try:
        code = main()
    except SystemExit as e:  # argparse: --help, a usage error
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
