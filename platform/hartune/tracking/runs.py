"""The MLflow run tree, its one owner: the tag names, the write side and the read side.

One parent run per ``hartune run`` (level ``run``), one child per stage (``stage``), under a stage its
trials (``trial``) or, for stages made of several Tune experiments (independent families, interleaved
rounds), ``step`` runs holding the trials. Every run that holds trials records the kind of Tune
experiment it ran (``hartune.trials_kind``: grid or search); a stage run records its kind, its result
(best value, label, trial ids, trial counts, ``best_config.json``) and the tables it logged
(``hartune.artifacts``), so readers never guess.

All calls go through ``MlflowClient`` with explicit run ids: no global active run, so the Tune driver
(threads) and trial processes never step on each other. A trial's run is keyed by its Tune trial id
(tag ``hartune.trial_id``): a retry or a restored trial finds its run instead of creating a second one.
``runner``, ``report``, ``promote`` and ``ls`` read the tree through :class:`RunTree`.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.tracking import MlflowClient

from hartune.overlays import flatten
from hartune.registry import ConfigError, UnknownNameError
from hartune.tracking.retry import DEFAULT_RETRY_S, RetryingClient, own_the_window, transient
from hartune.tracking.secrets import unseal
from hartune.tracking.store import first_use_lock, redact
from hartune.tune.outcomes import group_key

# -- tag names -----------------------------------------------------------------------------------------
PARENT = "mlflow.parentRunId"
DESCRIPTION_TAG = "mlflow.note.content"  # a run's description in the MLflow UI
# MLflow 3's UI opens an experiment by this tag: without it, on the GenAI overview (traces, tokens).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"  # the training runs table
DATASET_CONTEXT_TAG = "mlflow.data.context"  # a dataset input's role: training
LEVEL_TAG = "hartune.level"  # run | stage | step | group | trial
TRIAL_TAG = "hartune.trial_id"
STAGE_TAG = "hartune.stage"  # a step's or trial's stage name
STAGE_KIND_TAG = "hartune.stage_kind"  # on a stage run: grid, comparison, search, blend, independent, interleaved
TRIALS_KIND_TAG = "hartune.trials_kind"  # on a run holding trials: the kind of its Tune experiment
STEP_TAG = "hartune.step"
GROUP_TAG = "hartune.group"  # on a group run and its fold trials: the configuration they evaluate
FOLD_TAG = "hartune.fold"  # on a fold trial
TEST_SUBJECTS_TAG = "hartune.test_subjects"  # on a trial: the subjects of its test split
VARIANT_TAG = "hartune.variant"
SPEC_TAG = "hartune.spec"  # the spec's name
SPEC_HASH_TAG = "hartune.spec_hash"
GIT_COMMIT_TAG = "hartune.git_commit"
BEST_TAG = "hartune.best"  # the best configuration's label
BEST_TRIALS_TAG = "hartune.best_trials"
BEST_RUN_TAG = "hartune.best_run_id"  # on a stage run: the trial run whose model was logged
BEST_OF_STAGE_TAG = "hartune.best_of_stage"
REFIT_TAG = "hartune.refit"  # on a refit trial run: the best configuration trained on every subject
REFIT_RUN_TAG = "hartune.refit_run_id"  # on a stage run: its refit trial run
CV_PROTOCOL_TAG = "hartune.cv_protocol"  # on a refit trial run: the cross-validation it was selected by
REFIT_EPOCHS_TAG = "hartune.refit_epochs"
REFIT_STEP = "refit"  # the step run holding a stage's refit trial
ARTIFACTS_TAG = "hartune.artifacts"  # on a stage run: the tables and figures the stage logged
STATUS_TAG = "hartune.status"  # on a trial run: finished, stopped_early, failed, lost
ERROR_TAG = "hartune.error"
DATA_FINGERPRINT_TAG = "hartune.data_fingerprint"
DATA_OBJECT_TAG = "hartune.data_object"  # on a trial run: the Ray object its data was read from, or "local"
DATA_CHECKSUM_TAG = "hartune.data_checksum"  # on a trial run: CRC-32 of the arrays it read, after training
LEAKY_SPLIT_TAG = "hartune.leaky_split"
PATIENCE_STOP_TAG = "hartune.stopped_early_by_patience"
GENERATOR_KEY_TAG = "hartune.generator_key"
GENERATOR_TRAINED_TAG = "hartune.generator_trained"
BEST_CONFIG = "best_config.json"  # the best configuration's partial run config (stage and step runs)

MAX_BATCH = 100  # MLflow's log_batch limit on params per call
BAD_KEY_CHARS = re.compile(r"[^\w\-. :/]")
COUNTS = ("finished", "stopped", "failed")


def client(uri: str, retry_s: float = DEFAULT_RETRY_S) -> MlflowClient:
    """A client of the store at ``uri`` whose every call waits out an outage of up to ``retry_s``
    seconds (the spec's ``tracking.retry_s``; :mod:`hartune.tracking.retry`), then raises
    ``TrackingUnavailable`` naming the server. A SQLite store's first client creates its tables, which
    MLflow announces at INFO ("Creating initial MLflow database tables..."): routine, so not shown."""
    import logging

    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    own_the_window()
    uri = unseal(uri)  # a password kept out of Ray's storage (hartune.tracking.secrets)
    if uri.startswith("sqlite:///") and uri not in _OPENED:  # its tables are made on its first use
        with first_use_lock(uri):
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        _OPENED.add(uri)
    return cast(MlflowClient, RetryingClient(MlflowClient(tracking_uri=uri), retry_s))  # duck-typed: every method


_OPENED: set[str] = set()  # the stores this process has used once (their tables exist)


def log_metric_items_once(c: MlflowClient, run_id: str, items: list[Metric]) -> bool:
    """One attempt at writing ``items`` (no waiting): False if the store is out (the caller keeps them
    and sends them again; MLflow keeps each metric row once however often it is sent)."""
    plain = getattr(c, "once", c)
    try:
        log_metric_items(plain, run_id, items)
    except Exception as e:
        if not transient(e):
            raise
        return False
    return True


# -- write side ----------------------------------------------------------------------------------------
def ensure_experiment(c: MlflowClient, name: str) -> str:
    """The experiment ``name`` (created, or restored if deleted), tagged as model development so that
    the MLflow UI opens it on its training runs."""
    exp = c.get_experiment_by_name(name)
    if exp is None:
        return c.create_experiment(name, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    if exp.lifecycle_stage == "deleted":
        c.restore_experiment(exp.experiment_id)
    if exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:  # made before hartune set the kind
        c.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return exp.experiment_id


def describe(c: MlflowClient, run_id: str, text: str) -> None:
    """The run's description (shown on its page and in the runs table)."""
    set_tags(c, run_id, {DESCRIPTION_TAG: text})


def log_dataset(c: MlflowClient, run_id: str, name: str, digest: str, source: str, source_type: str,
                schema: Mapping[str, Any], profile: Mapping[str, Any]) -> None:
    """The trial's data as an MLflow dataset input (context ``training``): the runs table's Dataset
    column shows its name and digest (hartune's data fingerprint, which covers windows, labels and
    split)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.exceptions import MlflowException

    dataset = Dataset(name=name, digest=digest[:36], source_type=source_type, source=json.dumps({"uri": source}),
                      schema=json.dumps(schema), profile=json.dumps(profile))
    for attempt in range(3):
        try:
            c.log_inputs(run_id, datasets=[DatasetInput(dataset, tags=[InputTag(DATASET_CONTEXT_TAG, "training")])])
            return
        except MlflowException:
            # Concurrent trials of one data config create its dataset at once; the store keeps one
            # (unique name and digest per experiment) and refuses the other, whose retry links to it.
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))


def share_datasets(c: MlflowClient, experiment_id: str, holder: str, targets: Sequence[str]) -> None:
    """The dataset inputs of every trial under ``holder`` (through its steps and groups), each distinct
    one logged once on ``targets`` (the stage and parent runs): the UI shows the parent row collapsed,
    and its Dataset column then names the data of the run."""
    found: dict[tuple[str, str], Any] = {}
    todo = [holder]
    while todo:
        under = todo.pop()
        for r in all_pages(lambda token, under=under: c.search_runs(
                [experiment_id], f"tags.`{PARENT}` = '{under}'", max_results=1000, page_token=token)):
            if r.data.tags.get(LEVEL_TAG) != "trial":
                todo.append(r.info.run_id)
            for d in r.inputs.dataset_inputs:
                found.setdefault((d.dataset.name, d.dataset.digest), d)
    for run_id in targets if found else ():
        have = {(d.dataset.name, d.dataset.digest) for d in c.get_run(run_id).inputs.dataset_inputs}
        new = [d for key, d in found.items() if key not in have]
        if new:
            c.log_inputs(run_id, datasets=new)


def param_key(key: str) -> str:
    """MLflow accepts alphanumerics, ``_ - . : /`` and spaces in names; a variant such as
    ``gamma=1, alpha=0.25`` keeps its shape with the rest replaced by ``_``."""
    return BAD_KEY_CHARS.sub("_", key)


def log_params(c: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    existing = c.get_run(run_id).data.params
    flat = {param_key(k): v for k, v in flatten(params).items()}
    items = [Param(k, str(v)[:6000]) for k, v in flat.items() if k not in existing]
    for i in range(0, len(items), MAX_BATCH):
        c.log_batch(run_id, params=items[i : i + MAX_BATCH])


def metric_items(metrics: Mapping[str, Any], step: int = 0) -> list[Metric]:
    """MLflow metrics of one step: numbers only (not bools), infinities dropped."""
    now = int(time.time() * 1000)
    return [
        Metric(k, float(v), now, step)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isinf(v)
    ]


def log_metric_items(c: MlflowClient, run_id: str, items: list[Metric]) -> None:
    """One ``log_batch`` per 1000 metrics (MLflow's limit), any mix of keys and steps."""
    for i in range(0, len(items), 1000):
        c.log_batch(run_id, metrics=items[i : i + 1000])


def log_metrics(c: MlflowClient, run_id: str, metrics: Mapping[str, Any], step: int = 0) -> None:
    log_metric_items(c, run_id, metric_items(metrics, step))


def last_step(c: MlflowClient, run_id: str) -> int:
    """The highest step any metric of the run has (0 for a new run): how far an earlier attempt of a
    retried trial logged."""
    keys = c.get_run(run_id).data.metrics
    return max((m.step for k in keys for m in c.get_metric_history(run_id, k)), default=0)


def set_tags(c: MlflowClient, run_id: str, tags: Mapping[str, Any]) -> None:
    c.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])


def log_json(c: MlflowClient, run_id: str, obj: Any, artifact_file: str) -> None:
    c.log_text(run_id, json.dumps(obj, indent=2, default=str), artifact_file)


def log_png(c: MlflowClient, run_id: str, fig: Any, artifact_file: str) -> None:
    import matplotlib.pyplot as plt

    c.log_figure(run_id, fig, artifact_file)
    plt.close(fig)


def start_run(
    c: MlflowClient, experiment_id: str, name: str, level: str, parent: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    all_tags = {LEVEL_TAG: level, **(tags or {})}
    if parent:
        all_tags[PARENT] = parent
    return c.create_run(experiment_id, run_name=name, tags=all_tags).info.run_id


def start_parent(c: MlflowClient, experiment_id: str, spec_name: str, spec_hash: str, commit: str) -> str:
    """The parent run of one ``hartune run``."""
    return start_run(c, experiment_id, spec_name, "run", tags=run_tags(spec_name, spec_hash, commit))


def run_tags(spec_name: str, spec_hash: str, commit: str) -> dict[str, str]:
    """The tags every run of one ``hartune run`` carries: which spec, which code."""
    return {SPEC_HASH_TAG: spec_hash, GIT_COMMIT_TAG: commit, SPEC_TAG: spec_name}


def stage_or_step(
    c: MlflowClient, experiment_id: str, parent: str, name: str, level: str, tags: Mapping[str, str],
    resume: bool,
) -> tuple[str, bool]:
    """The run of a stage (or a step of one) under ``parent``: found again on a resume, else created.
    Returns its id and whether it had finished before."""
    if resume:
        found = find_child(c, experiment_id, parent, name, level)
        if found is not None:
            return found, c.get_run(found).info.status == "FINISHED"
    return start_run(c, experiment_id, name, level, parent, tags), False


def stage_tags(stage: str, kind: str) -> dict[str, str]:
    return {STAGE_TAG: stage, STAGE_KIND_TAG: kind}


def step_tags(stage: str, step: str) -> dict[str, str]:
    return {STAGE_TAG: stage, STEP_TAG: step}


def trial_tags(stage: str, variant: str) -> dict[str, str]:
    return {STAGE_TAG: stage, VARIANT_TAG: variant}


def find_child(c: MlflowClient, experiment_id: str, parent: str, name: str, level: str) -> str | None:
    """The run named ``name`` at ``level`` (stage, step) under ``parent``, if one exists (a resume)."""
    found = c.search_runs(
        [experiment_id],
        filter_string=f"tags.`{PARENT}` = '{parent}' and tags.`{LEVEL_TAG}` = '{level}' and attributes.run_name = '{name}'",
        order_by=["attributes.start_time ASC"], max_results=1,
    )
    return found[0].info.run_id if found else None


def find_trial_run(c: MlflowClient, experiment_id: str, stage_run: str, trial_id: str) -> str | None:
    runs = c.search_runs(
        [experiment_id],
        filter_string=f"tags.`{PARENT}` = '{stage_run}' and tags.`{TRIAL_TAG}` = '{trial_id}'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def trial_name(config: Mapping[str, Any]) -> str:
    """A trial run's name from its Tune config: ``<variant>-<dataset>-s<seed>`` (``-f<fold>`` on a fold
    axis)."""
    fold = f"-f{config['fold']}" if config.get("fold") is not None else ""
    return f"{config.get('variant')}-{config.get('dataset')}-s{config.get('seed')}{fold}"


def find_group(c: MlflowClient, experiment_id: str, holder: str, key: str) -> str | None:
    """The group run ``key`` under ``holder`` (the stage or step run of the Tune experiment)."""
    found = c.search_runs(
        [experiment_id],
        filter_string=f"tags.`{PARENT}` = '{holder}' and tags.`{LEVEL_TAG}` = 'group' and tags.`{GROUP_TAG}` = '{key}'",
        order_by=["attributes.start_time ASC"], max_results=1,
    )
    return found[0].info.run_id if found else None


def trial_parent(c: MlflowClient, experiment_id: str, holder: str, config: Mapping[str, Any]) -> str:
    """Where a trial's run hangs: its group run on a fold axis (the driver opened it before the trial
    existed; see :class:`GroupOpener`), else the holder itself."""
    if config.get("fold") is None:
        return holder
    key = group_key(config)
    return find_group(c, experiment_id, holder, key) or open_group(c, experiment_id, holder, config, {})


def open_group(c: MlflowClient, experiment_id: str, holder: str, config: Mapping[str, Any],
               tags: Mapping[str, str]) -> str:
    """The group run of ``config``'s configuration: found again (a resume), else created."""
    key = group_key(config)
    found = find_group(c, experiment_id, holder, key)
    if found:
        return found
    group_tags = {GROUP_TAG: key, **tags}
    if config.get("variant") is not None:
        group_tags[VARIANT_TAG] = str(config["variant"])
    name = key.replace("-", " ", 1) if config.get("point") is not None else key
    run_id = start_run(c, experiment_id, name, "group", holder, group_tags)
    log_params(c, run_id, {k: v for k, v in config.items() if k not in ("fold",)})
    return run_id


@dataclass(frozen=True)
class GroupOpener:
    """Opens a cross-validation group's run on the driver, before its first fold trial exists (a
    searcher calls it), so that concurrent fold trials never race to create it. Picklable: Tune saves
    its searcher with the experiment."""

    uri: str
    experiment_id: str
    holder: str
    tags: tuple[tuple[str, str], ...] = ()
    retry_s: float = DEFAULT_RETRY_S

    def __call__(self, config: Mapping[str, Any]) -> None:
        open_group(client(self.uri, self.retry_s), self.experiment_id, self.holder, config, dict(self.tags))


def trial_run(
    c: MlflowClient, experiment_id: str, stage_run: str, trial_id: str, name: str, tags: Mapping[str, str]
) -> str:
    """The run of ``trial_id``: found if it exists (retry, restore), else created once."""
    found = find_trial_run(c, experiment_id, stage_run, trial_id)
    if found:
        c.update_run(found, status="RUNNING")
        return found
    return start_run(c, experiment_id, name, "trial", stage_run, {TRIAL_TAG: trial_id, **tags})


def record_trials_kind(c: MlflowClient, run_id: str, kind: str) -> None:
    """What kind of Tune experiment put trials under ``run_id`` (grid or search)."""
    set_tags(c, run_id, {TRIALS_KIND_TAG: kind})


def record_result(
    c: MlflowClient, run_id: str, metric: str, counts: Mapping[str, int], best: Any | None,
    artifacts: Sequence[str] = (),
) -> None:
    """A stage's (or step's) outcome on its run: trial counts, and, if one finished, the best value
    (``best_<metric>``), its label, its trial ids and its partial run config (``best_config.json``)."""
    log_metrics(c, run_id, {f"trials_{k}": counts.get(k, 0) for k in COUNTS})
    if artifacts:
        set_tags(c, run_id, {ARTIFACTS_TAG: ",".join(artifacts)})
    if best is not None:
        log_metrics(c, run_id, {f"best_{metric}": best.value})
        set_tags(c, run_id, {BEST_TAG: best.label, BEST_TRIALS_TAG: ",".join(best.trial_ids)})
        log_json(c, run_id, best.overlay, BEST_CONFIG)


def record_group(c: MlflowClient, group_id: str, trials: Sequence[TrialRecord], folds: Sequence[int] = ()) -> None:
    """A cross-validation group's summary on its run, once its fold trials ended: the mean and std over
    the finished folds of every ``val_*`` (the best epoch's, as the searcher saw it) and ``test_*``
    metric (``<key>`` and ``<key>_std``), the fold counts, a per-fold table (``folds.csv``) and the
    group's status (FINISHED when every fold finished, KILLED when one was stopped, FAILED when one
    failed). ``folds`` lists the configuration's folds: one that never trained (its point was stopped
    first) gets a row ``not trained``."""
    import statistics

    import pandas as pd

    trials = [t for t in trials if t.tags.get(STATUS_TAG) != "lost"]  # a resumed run trained their slot again
    done = [t for t in trials if t.finished]
    per_fold = [{"fold": t.tags.get(FOLD_TAG, ""), "test_subjects": t.tags.get(TEST_SUBJECTS_TAG, ""),
                 "status": t.tags.get(STATUS_TAG, t.status.lower()), "run": t.run_id,
                 **fold_metrics(t)} for t in sorted(trials, key=lambda t: int(t.tags.get(FOLD_TAG, 0) or 0))]
    trained = {t.tags.get(FOLD_TAG) for t in trials}
    per_fold += [{"fold": f, "test_subjects": "", "status": "not trained", "run": ""} for f in folds
                 if str(f) not in trained]
    summary: dict[str, float] = {"folds": max(len(trials), len(folds)), "folds_trained": len(trials),
                                 "folds_finished": len(done)}
    for key in sorted({k for t in done for k in fold_metrics(t)}):
        values = [fold_metrics(t)[key] for t in done if key in fold_metrics(t)]
        summary[key] = statistics.fmean(values)
        if len(values) > 1:
            summary[f"{key}_std"] = statistics.stdev(values)
    log_metrics(c, group_id, summary)
    c.log_text(group_id, pd.DataFrame(per_fold).to_csv(index=False), "folds.csv")
    statuses = {t.status for t in trials} | ({"KILLED"} if len(trials) < len(folds) else set())
    status = "FAILED" if "FAILED" in statuses else "KILLED" if statuses - {"FINISHED"} else "FINISHED"
    c.set_terminated(group_id, status)


def fold_metrics(t: TrialRecord) -> dict[str, float]:
    """A fold trial's figures that its group averages: its best epoch's validation metrics (``val_*``,
    logged as ``best_val_*``) and its test metrics."""
    out = {k.removeprefix("best_"): v for k, v in t.metrics.items() if k.startswith("best_val_")}
    out.update({k: v for k, v in t.metrics.items() if k.startswith("test_")})
    return out


def mark_best_model(c: MlflowClient, stage_run: str, trial_run_id: str) -> None:
    """The trial whose model was logged as the stage's best."""
    set_tags(c, trial_run_id, {BEST_OF_STAGE_TAG: "true"})
    set_tags(c, stage_run, {BEST_RUN_TAG: trial_run_id})


# -- read side -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRef:
    """A parent, stage or step run: id, name, params, tags, metrics."""

    run_id: str
    name: str
    params: dict[str, str]
    tags: dict[str, str]
    start_time: int
    status: str = "FINISHED"
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def level(self) -> str:
        return self.tags.get(LEVEL_TAG, "")

    @property
    def parent_id(self) -> str:
        return self.tags.get(PARENT, "")

    @property
    def kind(self) -> str:
        """A stage run's kind (grid, comparison, search, blend, independent, interleaved)."""
        return self.tags.get(STAGE_KIND_TAG, "?")

    @property
    def trials_kind(self) -> str:
        """The kind of Tune experiment whose trials this run holds: grid or search."""
        return self.tags.get(TRIALS_KIND_TAG, "grid")

    @property
    def artifacts(self) -> list[str]:
        """The tables and figures this stage logged, as the stage kind declared them."""
        return [a for a in self.tags.get(ARTIFACTS_TAG, "").split(",") if a]


@dataclass(frozen=True)
class TrialRecord:
    run_id: str
    name: str
    status: str  # MLflow status: FINISHED, KILLED (stopped early), FAILED
    variant: str
    dataset: str
    seed: int
    params: dict[str, str]
    metrics: dict[str, float]
    start_time: int
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status == "FINISHED" and any(k.startswith("test_") for k in self.metrics)

    @property
    def parent_id(self) -> str:
        return self.tags.get(PARENT, "")

    @property
    def fold(self) -> int | None:
        """A cross-validation fold trial's fold; None off a fold axis."""
        f = self.tags.get(FOLD_TAG, "")
        return int(f) if f.isdigit() else None

    @property
    def test_subjects(self) -> tuple[int, ...]:
        """The subjects of the trial's test split, as its tag names them (numeric ids only)."""
        return tuple(int(s) for s in self.tags.get(TEST_SUBJECTS_TAG, "").split(",") if s.strip().lstrip("-").isdigit())

    def test_metrics(self) -> dict[str, float]:
        return {k.removeprefix("test_"): v for k, v in self.metrics.items() if k.startswith("test_")}


def _ref(r: Run) -> RunRef:
    return RunRef(r.info.run_id, r.info.run_name, dict(r.data.params), dict(r.data.tags), r.info.start_time,
                  r.info.status, dict(r.data.metrics))


def _trial(r: Run) -> TrialRecord:
    p, t = dict(r.data.params), dict(r.data.tags)
    seed = p.get("seed", p.get("tune.seed", "0"))
    return TrialRecord(
        r.info.run_id, r.info.run_name, r.info.status,
        t.get(VARIANT_TAG) or p.get("variant") or p.get("tune.variant", "?"),
        p.get("dataset_key") or p.get("tune.dataset", "?"), int(float(seed)) if seed not in ("None", "") else 0,
        p, dict(r.data.metrics), r.info.start_time, t,
    )


def all_pages(fetch: Callable[[str | None], Any]) -> list[Any]:
    """Every item of a paged MLflow search (``fetch(page_token)`` returns one page)."""
    out, token = [], None
    while True:
        page = fetch(token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def experiments_with_runs(c: MlflowClient) -> list[str]:
    """Names of the experiments that hold at least one hartune parent run."""
    names = []
    for exp in c.search_experiments():
        if c.search_runs([exp.experiment_id], f"tags.`{LEVEL_TAG}` = 'run'", max_results=1):
            names.append(exp.name)
    return names


class RunTree:
    """The read side of one experiment's run tree (and artifact access to its runs)."""

    def __init__(self, c: MlflowClient, experiment: str) -> None:
        self.client = c
        exp = c.get_experiment_by_name(experiment)
        if exp is None or exp.lifecycle_stage == "deleted":
            known = sorted(e.name for e in c.search_experiments())
            raise ConfigError(f"experiment {experiment!r} not found in {redact(c.tracking_uri)}; "
                              f"experiments here: {', '.join(known) or 'none'}")
        self.experiment, self.experiment_id = experiment, exp.experiment_id

    @classmethod
    def of(cls, uri: str, experiment: str) -> RunTree:
        return cls(client(uri), experiment)

    def _search(self, filter_string: str = "") -> list[Run]:
        return all_pages(lambda token: self.client.search_runs(
            [self.experiment_id], filter_string, max_results=1000, order_by=["attributes.start_time ASC"],
            page_token=token))

    # -- parents, stages, steps, trials ----------------------------------------------------------------
    def parents(self, spec_hash: str | None = None) -> list[RunRef]:
        """The parent runs (one per ``hartune run``; of one spec text with ``spec_hash``), latest first."""
        where = f"tags.`{LEVEL_TAG}` = 'run'" + (f" and tags.`{SPEC_HASH_TAG}` = '{spec_hash}'" if spec_hash else "")
        return sorted(map(_ref, self._search(where)), key=lambda r: r.start_time, reverse=True)

    def parent(self, prefix: str | None = None) -> RunRef:
        """The parent run whose id starts with ``prefix`` (8 characters are enough), else the latest."""
        parents = self.parents()
        if not parents:
            raise ConfigError(f"experiment {self.experiment!r} has no hartune run; run a spec with `hartune run` first")
        if prefix is None:
            return parents[0]
        hits = [r for r in parents if r.run_id.startswith(prefix)]
        if len(hits) != 1:
            ids = ", ".join(r.run_id[:8] for r in parents[:10])
            raise ConfigError(f"--run {prefix!r} matches {len(hits)} parent runs of {self.experiment!r}; "
                              f"its parent runs (latest first): {ids}")
        return hits[0]

    def children(self, run_id: str, level: str | None = None) -> list[RunRef]:
        """The runs directly under ``run_id`` (at ``level``), in start order."""
        where = f"tags.`{PARENT}` = '{run_id}'" + (f" and tags.`{LEVEL_TAG}` = '{level}'" if level else "")
        return [_ref(r) for r in self._search(where)]

    def stages(self, parent: RunRef, only: str | None = None) -> list[RunRef]:
        """The stage runs of a parent run (only the one named ``only``: an unknown name lists them)."""
        stages = self.children(parent.run_id, "stage")
        if only is None:
            return stages
        picked = [s for s in stages if s.name == only]
        if not picked:
            raise UnknownNameError("stage", only, [s.name for s in stages])
        return picked

    def trial_groups(self, stage: RunRef) -> list[tuple[str, RunRef]]:
        """The runs holding a stage's trials: its steps (name, step run), or the stage run itself ("").
        The ``refit`` step (``refit: true``) is not among them: its one trial has no test split."""
        steps = [s for s in self.children(stage.run_id, "step") if s.tags.get(STEP_TAG) != REFIT_STEP]
        return [(s.name, s) for s in steps] or [("", stage)]

    def trials(self, run_id: str) -> list[TrialRecord]:
        """The trial runs of a stage or step run (through its cross-validation groups, if any) or of a
        group run, in start order."""
        direct = [_trial(r) for r in self._search(f"tags.`{PARENT}` = '{run_id}' and tags.`{LEVEL_TAG}` = 'trial'")]
        grouped = [t for g in self.groups(run_id) for t in self.trials(g.run_id)]
        return sorted(direct + grouped, key=lambda t: t.start_time)

    def cross_validated(self, stage: RunRef) -> bool:
        """Whether a stage's trials are folds of a cross-validation (it has group runs)."""
        return any(self.groups(run.run_id) for _, run in self.trial_groups(stage))

    def trial(self, run_id: str) -> TrialRecord:
        return _trial(self.client.get_run(run_id))

    def groups(self, run_id: str) -> list[RunRef]:
        """The cross-validation group runs of a stage or step run (one per configuration, holding its
        fold trials)."""
        return self.children(run_id, "group")

    def group_records(self, run_id: str) -> list[tuple[TrialRecord, list[TrialRecord]]]:
        """The cross-validation groups of a stage or step run, each as one record with its fold trials:
        the group run's status and fold means (``val_*``, ``test_*``, their ``*_std``) under the sampled
        point (``space.*``) and identity of its folds. A search's points, as its searcher saw them. A group
        without any fold trial (opened, then the run stopped) is left out."""
        out = []
        for g in self.groups(run_id):
            folds = self.trials(g.run_id)
            if not folds:
                continue
            first = folds[0]
            params = {k: v for k, v in first.params.items() if k != "data.split.fold"}
            out.append((TrialRecord(g.run_id, g.name, g.status, first.variant, first.dataset, first.seed, params,
                                    dict(g.metrics), g.start_time, dict(g.tags)), folds))
        return out

    def stage_trials(self, stage: RunRef) -> list[TrialRecord]:
        """Every trial of a stage, through its steps if it has any."""
        return [t for _, run in self.trial_groups(stage) for t in self.trials(run.run_id)]

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self.client.get_metric_history(run_id, key)]

    # -- artifacts and models -------------------------------------------------------------------------
    def artifacts(self, run_id: str) -> list[str]:
        return [a.path for a in self.client.list_artifacts(run_id)]

    def text(self, run_id: str, path: str) -> str | None:
        """An artifact's text, or None if the run has no such artifact."""
        folder = path.rsplit("/", 1)[0] if "/" in path else None
        if path not in {a.path for a in self.client.list_artifacts(run_id, folder)}:
            return None
        with tempfile.TemporaryDirectory() as d:
            return Path(self.client.download_artifacts(run_id, path, d)).read_text()

    def json(self, run_id: str, path: str) -> Any:
        text = self.text(run_id, path)
        return json.loads(text) if text is not None else None

    def spec(self, parent: RunRef) -> dict[str, Any] | None:
        """The spec the parent run ran (its ``spec.yaml`` artifact), parsed; None if absent or unreadable."""
        import yaml

        text = self.text(parent.run_id, "spec.yaml")
        try:
            raw = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            return None
        return raw if isinstance(raw, dict) else None

    def best_config(self, run: RunRef) -> dict[str, Any] | None:
        """The partial run config of a stage's (or step's) best, as the runner recorded it."""
        return self.json(run.run_id, BEST_CONFIG)

    def logged_models(self) -> list[Any]:
        """Every logged model of the experiment (MLflow 3 ``LoggedModel``s)."""
        return all_pages(lambda token: self.client.search_logged_models([self.experiment_id], page_token=token))

    def model_uris(self) -> dict[str, str]:
        """Source run id -> ``models:/<model id>`` of every logged model of the experiment."""
        return {m.source_run_id: f"models:/{m.model_id}" for m in self.logged_models() if m.source_run_id}

    def log_folder(self, run_id: str, folder: Path, artifact_path: str = "report") -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path)

    def log_file(self, run_id: str, path: Path, artifact_path: str = "report") -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)
