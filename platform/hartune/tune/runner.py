"""Run a validated spec: one MLflow parent run, then each stage as one Ray Tune experiment.

Stages run in order; a stage with ``from_stage`` starts from that stage's best configuration. After a
stage, its best trial's model is logged (``log_models: best``), and the stage run records the best
configuration and how many trials finished, stopped early or failed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hartune.overlays import deep_merge
from hartune.registry import ConfigError
from hartune.spec import Spec
from hartune.tracking import git_commit, redact, runs
from hartune.tracking.secrets import seal
from hartune.tune import datastore
from hartune.tune.outcomes import Best, TrialOutcome
from hartune.tune.progress import ProgressCallback, RunView, activate, duration, stage_line
from hartune.tune.search import FINAL, OptunaStore
from hartune.tune.stages import StageConfig
from hartune.tune.trainable import StageContext, run_trial


@dataclass
class StageSummary:
    name: str
    kind: str
    run_id: str
    best: Best | None
    counts: dict[str, int]
    refit_run: str | None = None  # the trial run of the refit model (``refit: true``)
    elapsed_s: float | None = None  # None: finished before a resume

    def lines(self, metric: str) -> list[str]:
        """What the CLI prints of the stage (and the parent run's description holds)."""
        best = f"best {self.best.label} ({metric} {self.best.value:.4f})" if self.best else None
        out = [stage_line(self.name, self.counts, best, self.elapsed_s)]
        if self.refit_run:
            out.append(
                f"  refit on every subject: model logged to run {self.refit_run[:8]} (hartune promote picks it)"
            )
        return out


@dataclass
class RunSummary:
    parent_run_id: str
    experiment_id: str
    stages: list[StageSummary]
    headline: str = ""  # "<spec>: done in 3m25s; experiment ..., parent run ..."


def init_ray(address: str | None, verbose: bool = False) -> None:
    """Join the cluster at ``address``, else start a local Ray. Worker output reaches this terminal only
    when ``verbose``: each trial's stdout and stderr are in its folder of Ray's storage anyway
    (``RunConfig(log_to_file=True)``)."""
    import logging

    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {
        "configure_logging": True,
        "logging_level": logging.WARNING,
        "log_to_driver": verbose,
    }
    if address:
        ray.init(address=address, **kwargs)
    else:
        # Ray 2.60 turns token authentication on for a new local cluster and says so at WARNING level
        # each time; the cluster is ours and lives as long as this process: that line is not shown.
        auth = logging.getLogger("ray._private.authentication.authentication_token_setup")
        if not any(isinstance(f, _NotLocalTokenNotice) for f in auth.filters):
            auth.addFilter(_NotLocalTokenNotice())
        ray.init(address="local", include_dashboard=False, **kwargs)  # never a `ray start` cluster by chance


class _NotLocalTokenNotice:
    """Drops Ray's notice that a new local cluster uses token authentication (and nothing else)."""

    def filter(self, record: Any) -> bool:
        return "Token authentication is enabled for this Ray cluster" not in record.getMessage()


def outcomes_of(grid: Any) -> list[TrialOutcome]:
    out = []
    for r in grid:
        m = dict(r.metrics or {})
        status = "failed" if r.error else ("finished" if m.get(FINAL) else "stopped")
        tid = m.get("trial_id") or Path(r.path).name
        out.append(TrialOutcome(str(tid), dict(r.config or {}), m, status, str(r.error) if r.error else None))
    return out


def log_best_model(uri: str, run_id: str, checkpoint_dir: Path) -> None:
    """Rebuild the best trial's model from its checkpoint and log it with MLflow's PyTorch flavour
    (or the sklearn flavour for a scikit-learn pipeline)."""
    import numpy as np
    import torch

    from hartune.models import create_normalized
    from hartune.tracking.trial import log_sklearn_model, log_torch_model
    from hartune.train import RunConfig

    if (checkpoint_dir / "model.joblib").exists():
        import joblib

        log_sklearn_model(
            uri, run_id, joblib.load(checkpoint_dir / "model.joblib"), np.load(checkpoint_dir / "example.npy")
        )
        return

    cfg = RunConfig.model_validate_json((checkpoint_dir / "run_config.json").read_text())
    meta = json.loads((checkpoint_dir / "meta.json").read_text())
    model = create_normalized(
        cfg.model.name,
        in_channels=meta["num_channels"],
        num_classes=len(meta["class_names"]),
        window=meta["window"],
        **cfg.model.params,
    )
    model.load_state_dict(torch.load(checkpoint_dir / "model.pt", map_location="cpu", weights_only=True))
    log_torch_model(uri, run_id, model.eval(), np.load(checkpoint_dir / "example.npy"))


# Checkpoints kept per trial. Tune forces an experiment-state snapshot whenever a trial has written this
# many since the last one (so the snapshot never names a deleted checkpoint), and warns when forced
# snapshots come within 5 s of each other. A trial writes one after its first epoch, then at most every
# 30 s, then its final one: with 3 kept, a quick trial (first + final) never forces one, and a long one
# only when Tune's snapshot period exceeds 30 s. The final checkpoint (the model logged as the stage's
# best) and the latest (a resume) are always among those kept.
KEEP_CHECKPOINTS = 3


class SpecRunner:
    def __init__(
        self,
        spec: Spec,
        spec_path: Path,
        spec_hash: str,
        uri: str,
        view: RunView | None = None,
        verbose: bool = False,
    ) -> None:
        """``view`` shows the progress (default: nothing); ``verbose`` brings back Ray Tune's own
        reporter and the workers' output on this terminal."""
        self.spec, self.spec_path, self.spec_hash, self.uri = spec, spec_path, spec_hash, uri
        self.view, self.verbose = view or RunView(), verbose
        self.resume = False
        self.data_store: str | None = None  # the run's data store actor, once the run started it
        self.base_dir = spec_path.parent
        self.client = runs.client(uri, spec.tracking.retry_s)

    def run(
        self, only_stage: str | None = None, address: str | None = None, resume: bool = False
    ) -> RunSummary:
        """Run the stages; with ``resume``, continue the latest unfinished run of this spec (same spec
        hash): finished stages are read back, the others' Tune experiments are restored (finished trials
        kept, unfinished ones continued from their last epoch's checkpoint), and every MLflow run is
        found again, not created twice."""
        import time

        import optuna

        spec = self.spec
        t0 = time.monotonic()
        if not self.verbose:  # "A new study created in RDB ...": the stage's own line says what ran
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        exp = runs.ensure_experiment(self.client, spec.experiment())
        tags = runs.run_tags(spec.name, self.spec_hash, git_commit(self.base_dir))
        self.resume = resume
        if resume:
            parent = self._resumable_parent()
            self.client.update_run(parent, status="RUNNING")
        else:
            parent = runs.start_parent(self.client, exp, spec.name, self.spec_hash, tags[runs.GIT_COMMIT_TAG])
            self.client.log_text(parent, redact(self.spec_path.read_text()), "spec.yaml")
        init_ray(address, self.verbose)
        store = datastore.start(parent, keep=spec.max_concurrent)  # prepared data, once per node
        self.data_store = datastore.store_name(parent)
        best: dict[str, Best] = {}
        summaries = []
        status = "FINISHED"
        previous_view = activate(self.view)
        try:
            for st in spec.stages:
                if only_stage and st.name != only_stage and st.name not in spec.upstream(only_stage):
                    continue
                summaries.append(self._run_stage(st, exp, parent, best, tags))
                if summaries[-1].best is not None:
                    best[st.name] = summaries[-1].best
        except BaseException:
            status = "FAILED"
            raise
        finally:
            activate(previous_view)
            with contextlib.suppress(Exception):  # a lost cluster: its objects went with it
                datastore.stop(store)
            self.client.set_terminated(parent, status)
        headline = (
            f"{spec.name}: done in {duration(time.monotonic() - t0)}; experiment {spec.experiment()!r}, "
            f"parent run {parent}"
        )
        lines = [line for s in summaries for line in s.lines(spec.stage(s.name).primary_metric)]
        runs.describe(self.client, parent, "\n".join([headline, *lines]))
        return RunSummary(parent, exp, summaries, headline)

    def _resumable_parent(self) -> str:
        found = runs.RunTree(self.client, self.spec.experiment()).parents(self.spec_hash)
        if not found:
            raise ConfigError(
                f"{self.spec_path}: --resume: no earlier run of this spec (hash {self.spec_hash[:12]}) "
                f"in experiment {self.spec.experiment()!r}; run it without --resume"
            )
        if found[0].status == "FINISHED":
            raise ConfigError(
                f"{self.spec_path}: --resume: its last run {found[0].run_id[:8]} finished; "
                "nothing to resume (run it again without --resume for a new run)"
            )
        return found[0].run_id

    def _run_stage(
        self, st: StageConfig, exp: str, parent: str, best: dict[str, Best], tags: dict[str, str]
    ) -> StageSummary:
        self.view.stage_start(
            st.name, st.kind, st.primary_metric, st.primary_mode, st.planned_trials(self.spec)
        )
        summary = self._stage(st, exp, parent, best, tags)
        self.view.stage_end("\n".join(summary.lines(st.primary_metric)))
        return summary

    def _stage(
        self, st: StageConfig, exp: str, parent: str, best: dict[str, Best], tags: dict[str, str]
    ) -> StageSummary:
        import time

        spec = self.spec
        t0 = time.monotonic()
        base = best[st.from_stage].overlay if st.from_stage and st.from_stage in best else {}
        stage_run, done = runs.stage_or_step(
            self.client,
            exp,
            parent,
            st.name,
            "stage",
            {**tags, **runs.stage_tags(st.name, st.kind)},
            self.resume,
        )
        if done:
            return self._finished_stage(st, stage_run)
        runs.log_params(self.client, stage_run, {"stage": st.model_dump(mode="json", exclude_none=True)})
        if base:
            runs.log_json(self.client, stage_run, base, "from_stage_best.json")
        driver = StageRun(self, st, exp, stage_run, tags)
        try:
            b = st.execute(driver, base)
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to show (a store may be down)
                self.client.set_terminated(stage_run, "FAILED")  # not FINISHED: --resume runs it again
            raise
        counts = dict(driver.counts)
        runs.record_result(self.client, stage_run, st.primary_metric, counts, b, driver.logged)
        if b is not None and spec.tracking.log_models != "none":
            self._log_best_models(st, driver, b, exp, stage_run)
        refit = driver.refit(b) if st.refit and b is not None else None
        runs.share_datasets(self.client, exp, stage_run, [stage_run, parent])
        self.client.set_terminated(stage_run, "FINISHED")
        return StageSummary(st.name, st.kind, stage_run, b, counts, refit, time.monotonic() - t0)

    def _finished_stage(self, st: StageConfig, stage_run: str) -> StageSummary:
        """A stage that finished before the interruption: its best and counts, read back from MLflow."""
        run = self.client.get_run(stage_run)
        counts = {k: int(run.data.metrics.get(f"trials_{k}", 0)) for k in runs.COUNTS}
        value = run.data.metrics.get(f"best_{st.primary_metric}")
        if value is None:
            return StageSummary(st.name, st.kind, stage_run, None, counts)
        overlay = json.loads(Path(self.client.download_artifacts(stage_run, runs.BEST_CONFIG)).read_text())
        ids = [t for t in run.data.tags.get(runs.BEST_TRIALS_TAG, "").split(",") if t]
        label = run.data.tags.get(runs.BEST_TAG, "")
        return StageSummary(st.name, st.kind, stage_run, Best(overlay, label, value, ids), counts)

    def _log_best_models(self, st: StageConfig, driver: StageRun, b: Best, exp: str, stage_run: str) -> None:
        """The best trial of the stage gets its model logged (with ``all``, trials already did)."""
        if self.spec.tracking.log_models == "all":
            return
        candidates = [
            driver.results[t] for t in b.trial_ids if t in driver.results and driver.results[t][0].checkpoint
        ]
        if not candidates:
            return
        sign = 1 if st.primary_mode == "max" else -1
        top, trial_parent = max(
            candidates, key=lambda c: sign * float(c[0].metrics.get(st.primary_metric, float("-inf")))
        )
        run_id = runs.find_trial_run(self.client, exp, trial_parent, top.metrics["trial_id"])
        if run_id is None:
            return
        with top.checkpoint.as_directory() as d:
            log_best_model(self.uri, run_id, Path(d))
        runs.mark_best_model(self.client, stage_run, run_id)


class StageRun:
    """The runner's side of one stage (a ``StageDriver``): its MLflow run, the Tune experiments the
    stage asks for, their trial counts and results (for logging the best model afterwards)."""

    def __init__(
        self, runner: SpecRunner, st: StageConfig, exp: str, stage_run: str, tags: dict[str, str]
    ) -> None:
        self.runner, self.st, self.exp, self.stage_run, self.tags = runner, st, exp, stage_run, tags
        self.spec, self.client = runner.spec, runner.client
        self.counts: Counter[str] = Counter(dict.fromkeys(runs.COUNTS, 0))
        self.results: dict[str, tuple[Any, str]] = {}  # trial id -> (Tune result, MLflow parent run)
        self.logged: list[str] = []  # the stage run's own artifacts, in the order logged

    def tune(
        self, stage: StageConfig, start: Mapping[str, Any], step: str | None = None
    ) -> tuple[Best | None, list[TrialOutcome]]:
        from ray import tune
        from ray.tune.logger import JsonLoggerCallback

        from hartune.tracking.callback import TrialStatusCallback

        spec, c = self.spec, self.client
        parent, step_tags = self.stage_run, {}
        if step is not None:
            step_tags = {runs.STEP_TAG: step}
            parent, _ = runs.stage_or_step(
                c,
                self.exp,
                self.stage_run,
                step,
                "step",
                {**self.tags, **runs.step_tags(self.st.name, step)},
                self.runner.resume,
            )
            runs.log_params(c, parent, {"stage": stage.model_dump(mode="json", exclude_none=True)})
        runs.record_trials_kind(c, parent, stage.kind)
        overlays = {k: deep_merge(start, v) for k, v in stage.overlays(spec).items()}
        # One Tune experiment and one Optuna study per stage (or step) run, both named after it: a
        # resume finds them again, a new run starts fresh ones.
        name = f"{spec.name}.{stage.name}.{parent[:8]}"
        trial_tags = {k: self.tags[k] for k in (runs.SPEC_HASH_TAG, runs.GIT_COMMIT_TAG)} | step_tags
        group_tags = {**trial_tags, runs.STAGE_TAG: self.st.name}
        study_url = optuna_storage(spec)
        seal(study_url)  # its password in the cluster's key-value store, for a searcher Tune restores
        plan = stage.tune_plan(spec, OptunaStore(study_url, spec.tracking.retry_s), name,
                               runs.GroupOpener(seal(self.runner.uri), self.exp, parent, tuple(group_tags.items()),
                                               spec.tracking.retry_s))
        threads = max(1, int(spec.resources.cpu))
        # What Ray pickles into its storage (tuner.pkl) holds no password: hartune.tracking.secrets.
        t = spec.tracking
        pickled_spec = spec.model_copy(update={"tracking": t.model_copy(update={
            "uri": t.uri and redact(t.uri), "optuna_storage": t.optuna_storage and redact(t.optuna_storage)})})
        ctx = StageContext(pickled_spec, self.st.name, overlays, seal(self.runner.uri), self.exp, parent,
                           redact(self.runner.spec_path.read_text()), spec.tracking.log_models,
                           spec.tracking.metrics_every_s, trial_tags, threads, str(generator_root(spec)),
                           spec.tracking.retry_s, self.runner.data_store,
                           None if spec.tracking.tune_reports == "every_epoch" else plan.judged_epochs)
        trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx),
                                        {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})
        storage = storage_path(spec)
        path = f"{storage}/{name}"
        if self.runner.resume and tune.Tuner.can_restore(path):
            check_experiment_state(path)
            # finished trials stay finished; unfinished and errored ones continue from their checkpoint
            tuner = tune.Tuner.restore(
                path, trainable, resume_unfinished=True, resume_errored=True, param_space=plan.param_space
            )
            grid = self._fit(tuner, path)
            self._close_lost_trials(grid, parent, name)
            return self._finish(stage, grid, overlays, parent, step)
        # reuse_actors: a worker process runs trial after trial (same resources) instead of importing
        # torch, hartune and MLflow afresh for each; a trial's state lives in its call, not the process
        tuner = tune.Tuner(
            trainable,
            param_space=plan.param_space,
            tune_config=tune.TuneConfig(
                search_alg=plan.search_alg,
                scheduler=plan.scheduler,
                num_samples=plan.num_samples,
                max_concurrent_trials=spec.max_concurrent,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(storage),
                failure_config=tune.FailureConfig(max_failures=spec.retries),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS),
                callbacks=[TrialStatusCallback(seal(self.runner.uri), self.exp, parent, spec.tracking.retry_s,
                                               self.runner.verbose), ProgressCallback(), JsonLoggerCallback()],
                verbose=1 if self.runner.verbose else 0,  # else our own view (hartune.tune.progress)
                log_to_file=True,  # each trial's stdout/stderr in its folder of the storage ...
                sync_config=tune.SyncConfig(sync_artifacts=True),  # ... copied there from its working folder
            ),
        )
        grid = self._fit(tuner, path)
        return self._finish(stage, grid, overlays, parent, step)

    def _fit(self, tuner: tune.Tuner, path: str) -> tune.ResultGrid:
        """``tuner.fit()``. When Ray's storage stops taking writes mid-stage (a full disk: issue 21, point
        6), each trial that could not write fails with the reason, and Tune then fails reading back the
        error files it could not write; that ends the run with one line naming the storage (exit 1)
        and the stage's run FAILED. Once there is space, ``--resume`` continues the stage, or refuses
        with one line if the full disk cut Tune's experiment state short (``check_experiment_state``)."""
        from hartune.integrity import StorageFailed, probe_writable

        try:
            with tune_output(self.runner.verbose):
                return tuner.fit()
        except Exception as e:
            reason = None if "://" in path else probe_writable(path)
            if reason is None:
                raise
            raise StorageFailed(
                f"storage: {path} stopped taking writes during stage {self.st.name!r}: {reason}; the trials "
                "that could not write failed with the reason in their MLflow runs; free space, then run "
                "again with --resume"
            ) from e

    def _close_lost_trials(self, grid: Any, parent: str, study_name: str) -> None:
        """Trials the killed driver had started but not yet written into Tune's experiment state are
        unknown to the restored experiment (Tune samples their slot again). Their MLflow runs are closed
        KILLED (tag ``hartune.status=lost``) and their Optuna trials told FAIL, so nothing stays RUNNING."""
        import optuna

        known = {o.trial_id for o in outcomes_of(grid)}
        c = self.client
        for t in runs.RunTree(c, self.spec.experiment()).trials(parent):
            if t.tags.get(runs.TRIAL_TAG) not in known and t.status == "RUNNING":
                runs.set_tags(
                    c,
                    t.run_id,
                    {
                        runs.STATUS_TAG: "lost",
                        runs.ERROR_TAG: "the interrupted driver had not recorded this trial; the resumed run sampled its slot again",
                    },
                )
                c.set_terminated(t.run_id, "KILLED")
        try:
            study = optuna.load_study(study_name=study_name, storage=optuna_storage(self.spec))
        except KeyError:  # no study: not a searching stage
            return
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)

    def _finish(
        self,
        stage: StageConfig,
        grid: Any,
        overlays: dict[str, dict[str, Any]],
        parent: str,
        step: str | None,
    ) -> tuple[Best | None, list[TrialOutcome]]:
        c = self.client
        outcomes = outcomes_of(grid)
        tree = runs.RunTree(c, self.spec.experiment())
        for group in tree.groups(parent):  # cross-validation groups: fold means, per-fold table, status
            if group.status == "RUNNING":
                dataset = group.params.get("dataset", "")
                folds = self.spec.folds(dataset) if dataset in self.spec.datasets else None
                runs.record_group(c, group.run_id, tree.trials(group.run_id), folds or ())
        counts = Counter(o.status for o in outcomes)
        self.counts.update(counts)
        for r, o in zip(grid, outcomes):
            self.results[o.trial_id] = (r, parent)
        b = stage.best(outcomes, overlays)
        if step is not None:
            runs.record_result(c, parent, stage.primary_metric, counts, b)
            c.set_terminated(parent, "FINISHED")
        return b, outcomes

    def refit(self, best: Best) -> str | None:
        """``refit: true``: the best configuration trained once on every subject of the stage's first
        dataset (split ``all``), for ``refit_epochs`` of its folds' best epochs, as one more trial under
        a ``refit`` step run. Its model is logged, and its run carries the cross-validation's mean and
        std of every test metric (what to expect of it), the protocol and the epoch rule."""
        import statistics

        from hartune.tune.stages import GridStage
        from hartune.tune.stages.base import refit_epochs

        st, spec, c = self.st, self.spec, self.client
        dataset = st.dataset_keys(spec)[0]
        folds = [self.results[t][0] for t in best.trial_ids if t in self.results]
        folds = [r for r in folds if r.config.get("dataset") == dataset and r.config.get("fold") is not None]
        budget = spec.run_config(dataset, best.overlay, 0, "").train.epochs
        fold_epochs = sorted(int(r.metrics["best_epoch"]) for r in folds if "best_epoch" in r.metrics)
        epochs = refit_epochs(st.refit_epochs, fold_epochs, budget)
        overlay = deep_merge(
            best.overlay, {"data": {"split": {"kind": "all"}}, "train": {"epochs": epochs, "patience": None}}
        )
        stage = GridStage(
            name=f"{st.name}.refit",
            variants={"refit": overlay},
            datasets=[dataset],
            seeds=st.seed_list(spec)[:1],
            metric=st.primary_metric,
            mode=st.primary_mode,
            fold_axis=False,
        )
        self.runner.view.add_trials(1)
        _, outcomes = self.tune(stage, {}, step=runs.REFIT_STEP)
        done = [o for o in outcomes if o.status == "finished"]
        if not done:
            return None
        result, parent = self.results[done[0].trial_id]
        run_id = runs.find_trial_run(c, self.exp, parent, done[0].trial_id)
        if run_id is None or result.checkpoint is None:
            return None
        with result.checkpoint.as_directory() as d:
            log_best_model(self.runner.uri, run_id, Path(d))
        expected: dict[str, float] = {"cv_folds": float(len(folds))}
        for key in sorted({k for r in folds for k in r.metrics if k.startswith("test_")}):
            values = [float(r.metrics[key]) for r in folds if isinstance(r.metrics.get(key), (int, float))]
            expected[f"cv_{key}"] = statistics.fmean(values)
            if len(values) > 1:
                expected[f"cv_{key}_std"] = statistics.stdev(values)
        runs.log_metrics(c, run_id, expected)
        split = spec.datasets[dataset].split
        runs.set_tags(
            c,
            run_id,
            {
                runs.REFIT_TAG: "true",
                runs.CV_PROTOCOL_TAG: f"{split.kind} by subject, folds {split.folds} ({len(folds)} fold trials); "
                f"dataset {dataset}; configuration {best.label}",
                runs.REFIT_EPOCHS_TAG: f"{epochs}: {st.refit_epochs} of the folds' best epochs {fold_epochs} "
                f"(budget {budget})",
            },
        )
        runs.set_tags(c, self.stage_run, {runs.REFIT_RUN_TAG: run_id})
        return run_id

    def _declared(self, artifact_file: str) -> None:
        """A stage logs only what its kind declares (``StageConfig.artifacts``), so readers need not guess."""
        patterns = [p.replace("{family}", "*") for p in self.st.artifacts]
        if not any(fnmatch.fnmatchcase(artifact_file, p) for p in patterns):
            raise RuntimeError(
                f"stage kind {self.st.kind!r} logs {artifact_file!r}, which it does not declare "
                f"in its artifacts ({', '.join(self.st.artifacts) or 'none'})"
            )
        self.logged.append(artifact_file)

    def log_table(self, rows: list[dict[str, Any]], artifact_file: str) -> None:
        import pandas as pd

        self._declared(artifact_file)
        self.client.log_text(self.stage_run, pd.DataFrame(rows).to_csv(index=False), artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self._declared(artifact_file)
        runs.log_png(self.client, self.stage_run, figure, artifact_file)


@contextlib.contextmanager
def tune_output(verbose: bool) -> Iterator[None]:
    """Ray Tune's own console output: its reporter when ``verbose``, else none. Its new output engine
    prints the experiment's folder and a TensorBoard hint even at ``verbose=0``; its legacy engine at
    ``verbose=0`` prints nothing, so that one runs unless Tune's output is wanted. Either way Tune adds
    none of its default loggers: the runner passes the JSON one (each trial's ``result.json``); the CSV
    and TensorBoard copies of every result would repeat what MLflow holds, at a write per result."""
    env = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}
    if not verbose:
        # TUNE_PRINT_ALL_TRIAL_ERRORS=0: a failed trial's traceback is not logged here (it is in the
        # trial's folder and its MLflow run's error.txt); TrialStatusCallback prints its one line instead
        env.update({"RAY_AIR_NEW_OUTPUT": "0", "TUNE_PRINT_ALL_TRIAL_ERRORS": "0"})
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def storage_path(spec: Spec) -> Path | str:
    """Ray Tune's experiment storage: a URI as given, a path made absolute from the working directory."""
    return spec.storage if "://" in spec.storage else (Path.cwd() / spec.storage).resolve()


def optuna_storage(spec: Spec) -> str:
    """Where Optuna studies persist: the spec's ``tracking.optuna_storage``, else
    ``HARTUNE_OPTUNA_STORAGE`` (PostgreSQL in the compose stack), else a SQLite file beside Ray's
    storage, so a study outlives the driver (and optuna-dashboard can read it)."""
    configured = spec.tracking.optuna_storage or os.environ.get("HARTUNE_OPTUNA_STORAGE")
    if configured:
        return configured
    folder = beside_storage(spec)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def generator_root(spec: Spec) -> Path:
    """The diffusion generators' cache, beside Ray's storage (``.hartune/generators`` by default): on a
    cluster, put ``storage`` on shared disk so that every node finds the one trained generator."""
    return beside_storage(spec) / "generators"


def beside_storage(spec: Spec) -> Path:
    """The local folder holding Ray's storage (``.hartune`` by default; for an ``s3://`` storage, the
    default local one), where the Optuna database and the generator cache live."""
    base = Path(spec.storage) if "://" not in spec.storage else Path(".hartune/ray")
    return (Path.cwd() / base).resolve().parent


def check_experiment_state(path: str) -> None:
    """Before ``Tuner.restore``: Tune writes its experiment state in place, so a disk that filled up
    mid-stage can leave it truncated, and Tune would then start the stage afresh beside its old trial
    runs. A state that does not parse is refused with one line (``ConfigError``) instead."""
    if "://" in path:
        return
    for f in sorted(Path(path).glob("experiment_state-*.json")):
        try:
            json.loads(f.read_text())
        except (ValueError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"{f}: Ray Tune's experiment state is truncated or corrupt ({e.__class__.__name__}: {e}), as a "
                "disk that filled up mid-stage leaves it; this stage cannot be resumed; accepted: an intact "
                "state, or a new run without --resume"
            ) from None


def check_writable(spec: Spec, uri: str) -> None:
    """Before any compute: every local folder a run writes takes a write probe (``hartune.integrity``):
    Ray's storage (trial checkpoints, results), the folder beside it (the Optuna database, the generator
    cache) and, for a local MLflow store, the experiment's artifact folder (models, spec, reports). One
    ``ConfigError`` line names the key, the folder and the reason. A remote storage (``s3://``) or a
    tracking server's artifacts cannot be probed from here: a write that fails there fails its trial,
    with the reason as its error."""
    from hartune.integrity import probe_writable

    folders: list[tuple[str, Path]] = []
    if "://" not in spec.storage:
        folders.append(("storage", Path(storage_path(spec))))
    folders.append(("storage (the folder beside it: optuna.db, generators)", beside_storage(spec)))
    artifacts = local_artifact_folder(uri, spec.experiment())
    if artifacts is not None:
        folders.append((f"tracking.uri={redact(uri)} (its artifact folder)", artifacts))
    for key, folder in folders:
        reason = probe_writable(folder)
        if reason is not None:
            raise ConfigError(
                f"{key}: {folder} is not writable: {reason}; accepted: a folder this user can write, with free space"
            )


def local_artifact_folder(uri: str, experiment: str) -> Path | None:
    """Where a local store (``sqlite:///FILE``) keeps ``experiment``'s artifacts: its recorded artifact
    location when it exists, else MLflow's default for a new one (``./mlruns``); None for a server."""
    if not uri.startswith("sqlite:///"):
        return None
    if Path(uri.removeprefix("sqlite:///")).is_file():  # read only an existing store: a client creates one
        found = runs.client(uri).get_experiment_by_name(experiment)
        if found is not None:
            location = found.artifact_location
            if "://" not in location or location.startswith("file://"):
                return Path(location.removeprefix("file://"))
            return None
    return Path.cwd() / "mlruns"
