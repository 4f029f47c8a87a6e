"""Run a spec through the real CLI in a folder of its own: a fresh MLflow SQLite store and Ray storage
there (import by name: ``from spec_runs import run_spec``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from mlflow.tracking import MlflowClient

from hartune.cli import main


def run_spec(folder: Path, spec: dict[str, Any], **tracking: Any) -> tuple[int, MlflowClient]:
    """``hartune run <folder>/<name>.yaml --quiet`` with ``tracking.uri`` = ``<folder>/mlflow.db`` (plus
    any other ``tracking`` keys given) and ``storage`` = ``<folder>/ray``; returns the exit code and a
    client of that store."""
    uri = f"sqlite:///{folder}/mlflow.db"
    path = folder / f"{spec['name']}.yaml"
    full = {**spec, "tracking": {"uri": uri, **tracking}, "storage": str(folder / "ray")}
    path.write_text(yaml.safe_dump(full, sort_keys=False))
    return main(["run", str(path), "--quiet"]), MlflowClient(uri)
