"""The MLflow run tree: one parent per ``hartune run``, one child per stage, one grandchild per trial.

All calls go through ``MlflowClient`` with explicit run ids: no global active run, so the Tune driver
(threads) and trial processes never step on each other. A trial's run is keyed by its Tune trial id
(tag ``hartune.trial_id``): a retry or a restored trial finds its run instead of creating a second one.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

PARENT = "mlflow.parentRunId"
TRIAL_TAG = "hartune.trial_id"
LEVEL_TAG = "hartune.level"  # run | stage | trial
MAX_BATCH = 100  # MLflow's log_batch limit on params per call
BAD_KEY_CHARS = re.compile(r"[^\w\-. :/]")


def client(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri)


def ensure_experiment(c: MlflowClient, name: str) -> str:
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            c.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    return c.create_experiment(name)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


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


def start_run(
    c: MlflowClient, experiment_id: str, name: str, level: str, parent: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    all_tags = {LEVEL_TAG: level, **(tags or {})}
    if parent:
        all_tags[PARENT] = parent
    return c.create_run(experiment_id, run_name=name, tags=all_tags).info.run_id


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


def trial_run(
    c: MlflowClient, experiment_id: str, stage_run: str, trial_id: str, name: str, tags: Mapping[str, str]
) -> str:
    """The run of ``trial_id``: found if it exists (retry, restore), else created once."""
    found = find_trial_run(c, experiment_id, stage_run, trial_id)
    if found:
        c.update_run(found, status="RUNNING")
        return found
    return start_run(c, experiment_id, name, "trial", stage_run, {TRIAL_TAG: trial_id, **tags})


def set_tags(c: MlflowClient, run_id: str, tags: Mapping[str, Any]) -> None:
    c.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])


def log_json(c: MlflowClient, run_id: str, obj: Any, artifact_file: str) -> None:
    c.log_text(run_id, json.dumps(obj, indent=2, default=str), artifact_file)


def log_png(c: MlflowClient, run_id: str, fig: Any, artifact_file: str) -> None:
    import matplotlib.pyplot as plt

    c.log_figure(run_id, fig, artifact_file)
    plt.close(fig)
