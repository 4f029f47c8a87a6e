"""Issue 21 point 12: no secret in any artifact.

A small real run (a grid of one trial and a search of two, one epoch each, on the shipped watch data) tracks into a real PostgreSQL whose
URI carries a password (trust auth on 127.0.0.1 ignores it, so it is a real credential-bearing URI that
works), with its Optuna storage there too, and with a Ray token, S3 keys and an MLflow password in the
environment, as in the compose stack. Then ``hartune report`` writes its page. Every file under the
run's folder (MLflow artifacts, Ray storage with the trials' logs, the generator cache, the report) and
every row of every table of both databases is scanned for each secret value.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from mlflow.tracking import MlflowClient

from spec_runs import watch_entry

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

SECRETS = {
    "pg": f"pg-pw-{uuid.uuid4().hex[:10]}",
    "s3": f"s3-secret-{uuid.uuid4().hex[:10]}",
    "ray": f"ray-token-{uuid.uuid4().hex[:10]}",
    "mlflow": f"mlflow-pw-{uuid.uuid4().hex[:10]}",
}


def pg(db: str, password: str | None = None) -> str:
    auth = f"postgres:{password}" if password else "postgres"
    return f"postgresql+psycopg2://{auth}@127.0.0.1:5432/{db}"


@pytest.fixture(scope="module")
def databases():
    names = [f"hartune_nosecret_{uuid.uuid4().hex[:8]}", f"hartune_nosecret_optuna_{uuid.uuid4().hex[:8]}"]
    admin = sa.create_engine(pg("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for n in names:
            c.execute(sa.text(f'CREATE DATABASE "{n}"'))
    yield names
    with admin.connect() as c:
        for n in names:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))
    admin.dispose()


def hartune(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hartune.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory, databases):
    d = tmp_path_factory.mktemp("nosecret")
    tracking, optuna_db = databases
    uri = pg(tracking, SECRETS["pg"])
    spec = {
        "name": "nosecret",
        "description": f"a description is free text: no secret is put here ({uri.split('@')[1]})",
        "seeds": [0],
        "datasets": {"watch": watch_entry(epochs=1)},
        "models": {"cnn": {"name": "cnn", "channels": [8], "hidden": 8}},
        "stages": [
            {"name": "grid", "kind": "grid", "variants": {"A": {"model": "cnn"}}},
            {"name": "search", "kind": "search", "from_stage": "grid", "sampler": "random", "num_samples": 2,
             "space": {"train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}}},
        ],  # the search stage's searcher state (Tune pickles it into the storage) holds the Optuna URL
        "tracking": {"uri": uri, "optuna_storage": pg(optuna_db, SECRETS["pg"]), "log_models": "best"},
        "storage": str(d / "ray"),
    }
    path = d / "nosecret.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "hartune-key-id",
        "AWS_SECRET_ACCESS_KEY": SECRETS["s3"],
        "RAY_AUTH_TOKEN": SECRETS["ray"],
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": SECRETS["mlflow"],
    }
    run = hartune("run", str(path), cwd=d, env=env)
    report = hartune(
        "report", "nosecret", "--uri", uri, "--out", str(d / "report"), "--no-tsne", cwd=d, env=env
    )
    return d, uri, databases, run, report


def test_the_run_and_report_worked(secret_run) -> None:
    d, uri, _, run, report = secret_run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name("nosecret")
    trials = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
    assert len(trials) == 3 and {t.info.status for t in trials} == {"FINISHED"}  # grid 1 + search 2
    assert (d / "report" / "index.html").is_file()
    files = [p for p in d.rglob("*") if p.is_file()]
    assert any(p.name == "spec.yaml" for p in files) and any(p.name == "MLmodel" for p in files)
    assert any(p.parent.name.startswith("checkpoint_") for p in files)  # the Ray storage was scanned too
    assert any(p.name.startswith("searcher-state") for p in files)  # and the searcher's saved state


def test_no_secret_value_in_any_file_or_database_row(secret_run) -> None:
    d, uri, databases, run, report = secret_run
    found = []
    spec_file = d / "nosecret.yaml"  # the user's own input, not an artifact
    files = [p for p in d.rglob("*") if p.is_file() and p != spec_file]
    assert len(files) > 20
    for p in files:
        raw = p.read_bytes()
        found += [f"{p}: {k}" for k, v in SECRETS.items() if v.encode() in raw]
    for name, out in (
        ("run output", run.stdout + run.stderr),
        ("report output", report.stdout + report.stderr),
    ):
        found += [f"{name}: {k}" for k, v in SECRETS.items() if v in out]
    for db in databases:
        engine = sa.create_engine(pg(db))
        with engine.connect() as c:
            tables = sa.inspect(c).get_table_names()
            assert tables, db  # the search stage's study is in the second
            for t in tables:
                text = "\n".join(map(str, c.execute(sa.text(f'SELECT * FROM "{t}"')).fetchall()))
                found += [f"{db}.{t}: {k}" for k, v in SECRETS.items() if v in text]
        engine.dispose()
    assert found == []
    assert "***" in uri.replace(SECRETS["pg"], "***")  # the check above looked for the real value
