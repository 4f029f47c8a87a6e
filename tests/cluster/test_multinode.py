"""``hartune submit`` against a real two-node Ray cluster on this machine, tracked in a real ``mlflow server``
backed by PostgreSQL (127.0.0.1:5432).

The cluster: ``ray start --head`` (1 CPU, dashboard + Jobs API) plus ``ray start --address`` (2 CPUs and a
``worker_node`` resource), each with its own ``--temp-dir`` (two raylets sharing one session folder share
``runtime_resources/`` and one's cleanup deletes the other's unpacked working directory). Token
authentication is off (``RAY_AUTH_MODE=disabled`` for both nodes and this client): a loopback-only test
cluster. The spec asks 2 CPUs per trial, so only the worker node can hold a trial: that the trials ran
there is asserted from Ray's state API. Teardown kills exactly this cluster's processes (found by its
temp dir, plus their children): ``ray stop`` would stop every Ray session on the machine.
"""

from __future__ import annotations

import contextlib
import io
import re
import uuid
from pathlib import Path

import pytest
import yaml
from cluster_helpers import alive_nodes, ray_cluster, trial_actors

from hartune.cli import main
from live_servers import free_port, mlflow_server
from spec_runs import watch_entry

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

PG = {"host": "127.0.0.1", "port": 5432, "user": "root", "dbname": "postgres", "connect_timeout": 3}


@pytest.fixture(scope="module")
def cluster():
    """A head (1 CPU) and a worker (2 CPUs, ``worker_node``); yields the Jobs API address."""
    with ray_cluster([], [["--num-cpus", "2", "--num-gpus", "0", "--resources", '{"worker_node": 1}']],
                     head=["--num-cpus", "1", "--num-gpus", "0"]) as (address, _):
        yield address


@pytest.fixture(scope="module")
def database():
    """A fresh PostgreSQL database for the MLflow server, dropped afterwards."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        conn = psycopg2.connect(**PG)
    except psycopg2.OperationalError as e:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not reachable ({str(e).strip().splitlines()[0]})")
    conn.autocommit = True
    name = f"hartune_mn_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        # +psycopg2: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed
        yield f"postgresql+psycopg2://root@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.close()


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    d = tmp_path_factory.mktemp("mlflow")
    with mlflow_server(database, d) as uri:
        yield uri


def _spec(d: Path, uri: str, **resources: float) -> Path:
    spec = {
        "name": "multinode",
        "seeds": [0],
        "resources": {"cpu": 2, **resources},  # 2 CPUs: only the worker node can hold a trial
        "tracking": {"uri": uri},
        "storage": str(d / "ray"),  # every node of this cluster sees this disk
        "datasets": {"watch": watch_entry(epochs=1)},
        "models": {"cnn": {"name": "cnn", "channels": [16, 16]}},
        "stages": [{"name": "grid", "kind": "grid",
                    "variants": {"A": {"model": "cnn"}, "B": {"model": "cnn", "train": {"lr": 0.003}}}}],
    }
    path = d / "multinode.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def submitted(cluster, server, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")
    d = tmp_path_factory.mktemp("spec")
    spec = _spec(d, server)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["submit", str(spec), "--address", cluster])
    mp.undo()
    job = re.search(r"as job (\S+)", out.getvalue())
    return rc, job.group(1) if job else None, out.getvalue()


def test_submit_runs_every_trial_on_the_cluster_into_mlflow(submitted, server) -> None:
    from mlflow.tracking import MlflowClient

    rc, job_id, out = submitted
    assert rc == 0, out[-3000:]
    assert job_id and "hartune run multinode.yaml --quiet --address auto" in out
    c = MlflowClient(server)
    exp = c.get_experiment_by_name("multinode")
    every = c.search_runs([exp.experiment_id], max_results=100)
    level = {r.info.run_id: r.data.tags.get("hartune.level") for r in every}
    parents = [r for r in every if level[r.info.run_id] == "run"]
    stages = [r for r in every if level[r.info.run_id] == "stage"]
    trials = [r for r in every if level[r.info.run_id] == "trial"]
    assert (len(parents), len(stages), len(trials)) == (1, 1, 2)
    assert all(r.info.status == "FINISHED" for r in every)
    assert all(t.data.tags["mlflow.parentRunId"] == stages[0].info.run_id for t in trials)
    assert sorted(t.data.params["variant"] for t in trials) == ["A", "B"]


def test_job_succeeded_with_its_trials_on_the_worker_node(submitted, cluster, monkeypatch, capsys) -> None:
    from ray.job_submission import JobSubmissionClient

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    _, job_id, _ = submitted
    assert main(["job", "status", job_id, "--address", cluster]) == 0
    assert f"job {job_id}: SUCCEEDED" in capsys.readouterr().out
    nodes = alive_nodes(cluster)
    head = next(n.node_id for n in nodes if n.is_head_node)
    worker = next(n.node_id for n in nodes if n.resources_total.get("worker_node"))
    info = JobSubmissionClient(cluster).get_job_info(job_id)
    assert info.driver_node_id == head  # the job's driver (`hartune run`) runs on the head node
    trials = trial_actors(cluster, info.job_id)  # Tune's function-trainable actors
    # actors are reused: the two trials (one at a time, 2 CPUs each) ran in one or two actors, all on the worker
    assert 1 <= len(trials) <= 2 and {a.node_id for a in trials} == {worker}
    assert main(["job", "logs", job_id, "--address", cluster]) == 0
    assert "multinode: done in" in capsys.readouterr().out


def test_bad_job_id_and_unreachable_address_are_one_line_exit_2(cluster, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert main(["job", "status", "raysubmit_nosuchjob", "--address", cluster]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such job" in err
    assert main(["job", "logs", "raysubmit_x", "--address", f"http://127.0.0.1:{free_port()}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Ray Jobs API there" in err


def test_gpus_beyond_the_cluster_are_refused_before_submission(cluster, tmp_path, monkeypatch, capsys) -> None:
    from ray.job_submission import JobSubmissionClient

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    before = len(JobSubmissionClient(cluster).list_jobs())
    spec = _spec(tmp_path, f"sqlite:///{tmp_path}/mlflow.db", gpu=0.25)
    assert main(["submit", str(spec), "--address", cluster, "--no-wait"]) == 2
    err = capsys.readouterr().err
    assert "resources.gpu=0.25: more than the cluster's 0 GPUs" in err and err.count("\n") == 1
    assert len(JobSubmissionClient(cluster).list_jobs()) == before  # nothing was submitted
