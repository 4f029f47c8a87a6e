"""Driver-side Tune callback: every trial's MLflow run ends with its true status.

A trial that finishes closes its own run (FINISHED). One that a scheduler stops early is killed
mid-training, and one that crashes may die before it can write: this callback closes those runs as
KILLED (status tag ``stopped_early``) or FAILED with the error, creating the run if the trial
died before making it, so every trial has exactly one run.
"""

from __future__ import annotations

import sys
from typing import Any

from ray.tune import Callback

from hartune.tracking import runs
from hartune.tracking.retry import DEFAULT_RETRY_S


class TrialStatusCallback(Callback):
    def __init__(self, uri: str, experiment_id: str, stage_run: str, retry_s: float = DEFAULT_RETRY_S,
                 verbose: bool = True) -> None:
        """``verbose=False``: a failed trial is one line on stderr (its name, id and error's last line)."""
        self.uri, self.experiment_id, self.stage_run, self.retry_s = uri, experiment_id, stage_run, retry_s
        self.verbose = verbose

    def _run(self, trial: Any) -> str:
        c = runs.client(self.uri, self.retry_s)
        parent = runs.trial_parent(c, self.experiment_id, self.stage_run, trial.config)
        found = runs.find_trial_run(c, self.experiment_id, parent, trial.trial_id)
        if found:
            return found
        tags = {runs.TRIAL_TAG: trial.trial_id}
        if trial.config.get("fold") is not None:
            tags.update({runs.FOLD_TAG: str(trial.config["fold"]), runs.GROUP_TAG: runs.group_key(trial.config)})
        run_id = runs.start_run(c, self.experiment_id, runs.trial_name(trial.config), "trial", parent, tags)
        runs.log_params(c, run_id, {"tune": dict(trial.config)})
        return run_id

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        c = runs.client(self.uri, self.retry_s)
        run_id = self._run(trial)
        if c.get_run(run_id).info.status == "RUNNING":
            runs.set_tags(c, run_id, {runs.STATUS_TAG: "stopped_early"})
            c.set_terminated(run_id, "KILLED")
        else:
            runs.set_tags(c, run_id, {runs.STATUS_TAG: "finished"})

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        err = str(trial_error(trial) or "trial raised an error")
        line = err.strip().splitlines()[-1] if err.strip() else err
        if not self.verbose:  # Tune's own traceback is off then (runner.tune_output); the trial's is in its folder
            print(f"trial {runs.trial_name(trial.config)} ({trial.trial_id}) failed: {line}", file=sys.stderr)
        c = runs.client(self.uri, self.retry_s)
        run_id = self._run(trial)
        tags = {runs.STATUS_TAG: "failed"}
        if runs.ERROR_TAG not in c.get_run(run_id).data.tags:
            tags[runs.ERROR_TAG] = line
        runs.set_tags(c, run_id, tags)
        c.set_terminated(run_id, "FAILED")


def trial_error(trial: Any) -> str | None:
    """The trial's error as Tune stored it (its ``error.txt`` trace; ``Trial.error_msg`` is gone in
    Ray 2.60): a trial that could not record its own error, e.g. a killed worker's, still gets one."""
    from pathlib import Path

    try:
        path = trial.error_file  # where Tune just wrote it (the driver's copy, before any sync)
        text = Path(path).read_text() if path and Path(path).exists() else trial.get_error()
    except (OSError, ValueError):  # an unreadable error file: the generic line
        return None
    return str(text) if text else None
