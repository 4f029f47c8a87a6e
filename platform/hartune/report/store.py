"""Reading a ``hartune run`` back from MLflow, and logging the report to it: the package's edge.

The run tree (``hartune.tracking.runs``): a parent run per ``hartune run`` (``hartune.level=run``), a child
per stage (``stage``), under it the trials (``trial``) or, for stages made of several Tune experiments
(independent families, interleaved rounds), ``step`` runs holding the trials.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from mlflow.tracking import MlflowClient

from hartune.registry import ConfigError
from hartune.tracking import runs as R


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

    def test_metrics(self) -> dict[str, float]:
        return {k.removeprefix("test_"): v for k, v in self.metrics.items() if k.startswith("test_")}


@dataclass(frozen=True)
class RunRef:
    """A stage or step run: id, name, params, tags."""

    run_id: str
    name: str
    params: dict[str, str]
    tags: dict[str, str]
    start_time: int

    @property
    def level(self) -> str:
        return self.tags.get(R.LEVEL_TAG, "")


def _ref(r: Any) -> RunRef:
    return RunRef(r.info.run_id, r.info.run_name, dict(r.data.params), dict(r.data.tags), r.info.start_time)


class RunStore:
    """Read access to one experiment of a tracking store (and artifact logging to its runs)."""

    def __init__(self, uri: str, experiment: str) -> None:
        self.uri, self.client = uri, MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None or exp.lifecycle_stage == "deleted":
            known = [e.name for e in self.client.search_experiments()]
            raise ConfigError(f"experiment {experiment!r} not found in {uri}; known: {', '.join(known) or 'none'}")
        self.experiment, self.experiment_id = experiment, exp.experiment_id

    def _search(self, filter_string: str) -> list[Any]:
        return self.client.search_runs([self.experiment_id], filter_string, max_results=10000, order_by=["start_time ASC"])

    def parent(self, run_id: str | None = None) -> RunRef:
        """The parent run ``run_id`` (a prefix of 8+ characters is enough), else the latest one."""
        parents = self._search(f"tags.`{R.LEVEL_TAG}` = 'run'")
        if not parents:
            raise ConfigError(f"experiment {self.experiment!r} has no hartune run; run a spec with `hartune run` first")
        if run_id is None:
            return _ref(max(parents, key=lambda r: r.info.start_time))
        found = [r for r in parents if r.info.run_id.startswith(run_id)]
        if len(found) != 1:
            ids = ", ".join(r.info.run_id[:8] for r in parents)
            raise ConfigError(f"--run {run_id!r}: {'ambiguous' if found else 'no such parent run'} in "
                              f"{self.experiment!r}; parent runs: {ids}")
        return _ref(found[0])

    def children(self, run_id: str) -> list[RunRef]:
        return [_ref(r) for r in self._search(f"tags.`{R.PARENT}` = '{run_id}'")]

    def trials(self, run_id: str) -> list[TrialRecord]:
        """The trial runs directly under ``run_id``, in start order."""
        out = []
        for r in self._search(f"tags.`{R.PARENT}` = '{run_id}' and tags.`{R.LEVEL_TAG}` = 'trial'"):
            p, t = dict(r.data.params), dict(r.data.tags)
            seed = p.get("seed", p.get("tune.seed", "0"))
            out.append(TrialRecord(
                r.info.run_id, r.info.run_name, r.info.status,
                t.get("hartune.variant") or p.get("variant") or p.get("tune.variant", "?"),
                p.get("dataset_key") or p.get("tune.dataset", "?"), int(float(seed)) if seed not in ("None", "") else 0,
                p, dict(r.data.metrics), r.info.start_time, t,
            ))
        return out

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self.client.get_metric_history(run_id, key)]

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
        text = self.text(parent.run_id, "spec.yaml")
        try:
            raw = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            return None
        return raw if isinstance(raw, dict) else None

    def model_uris(self) -> dict[str, str]:
        """Source run id -> ``models:/<model id>`` of every logged model of the experiment."""
        found = self.client.search_logged_models(experiment_ids=[self.experiment_id])
        return {m.source_run_id: f"models:/{m.model_id}" for m in found if m.source_run_id}

    def log_folder(self, run_id: str, folder: Path, artifact_path: str = "report") -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path)
