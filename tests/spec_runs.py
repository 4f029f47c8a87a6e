"""Specs for tests: the shipped watch data as a dataset entry, a spec run through the real CLI in a
folder of its own, with a fresh MLflow SQLite store and Ray storage there, and what Tune recorded of
its trials (import by name: ``from spec_runs import run_spec, tune_results, watch_entry``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from mlflow.tracking import MlflowClient

from hartune.cli import main


def watch_entry(epochs: int, stride: int = 200, imbalance: float | None = None, **train: Any) -> dict[str, Any]:
    """The shipped smartwatch data as a spec's dataset entry: 2-s windows (100 samples at 50 Hz) every
    ``stride`` samples, subjects 1 and 2 for test and 3 for validation, batches of 64; ``imbalance``
    induces that largest/smallest class ratio on the training split."""
    entry: dict[str, Any] = {
        "dataset": {"name": "watch"},
        "window": {"length": 100, "stride": stride},
        "split": {"kind": "holdout", "test_subjects": [1, 2], "val_subjects": [3]},
        "train": {"epochs": epochs, "batch_size": 64, **train},
    }
    if imbalance is not None:
        entry["imbalance"] = {"ratio": imbalance}
    return entry


def run_spec(folder: Path, spec: dict[str, Any], **tracking: Any) -> tuple[int, MlflowClient]:
    """``hartune run <folder>/<name>.yaml --quiet`` with ``tracking.uri`` = ``<folder>/mlflow.db`` (plus
    any other ``tracking`` keys given) and ``storage`` = ``<folder>/ray``; returns the exit code and a
    client of that store."""
    uri = f"sqlite:///{folder}/mlflow.db"
    path = folder / f"{spec['name']}.yaml"
    full = {**spec, "tracking": {"uri": uri, **tracking}, "storage": str(folder / "ray")}
    path.write_text(yaml.safe_dump(full, sort_keys=False))
    return main(["run", str(path), "--quiet"]), MlflowClient(uri)


def tune_results(storage: Path) -> list[list[dict[str, Any]]]:
    """Each trial's results as Tune recorded them under a run's Ray ``storage`` (a ``result.json`` per
    trial, one JSON line per result), in order; a last line caught while it is written is left out, and
    so is a trial with no result yet."""
    out = []
    for f in sorted(storage.glob("*/*/result.json")):
        lines = f.read_text().splitlines()
        rows = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                if i < len(lines) - 1:
                    raise
        if rows:
            out.append(rows)
    return out
