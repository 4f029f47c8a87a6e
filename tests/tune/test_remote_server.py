"""The same run tree through a real ``mlflow server`` process (HTTP URI, proxied artifacts), with
``log_models: all`` and a multi-objective NSGA-II search; then ``hartune ls`` reads it back."""

from __future__ import annotations

import mlflow
import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from hartune.cli import main
from live_servers import mlflow_server

# end-to-end runs on a real Ray (each over 20 s): left out of the default run, .ci/run runs them
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("server")
    with mlflow_server(f"sqlite:///{d}/server.db", d) as uri:
        yield uri, d


@pytest.fixture(scope="module")
def finished(server, ray_local, tmp_path_factory):
    uri, _ = server
    d = tmp_path_factory.mktemp("remote")
    spec = {
        "name": "remote",
        "seeds": [0],
        "tracking": {"uri": uri, "log_models": "all", "optuna_storage": f"sqlite:///{d}/optuna.db"},
        "storage": str(d / "ray"),
        "datasets": {"watch": {"window": {"length": 100, "stride": 300}, "split": {"kind": "loso", "fold": 0},
                               "train": {"epochs": 1}}},
        "stages": [
            {"name": "grid", "kind": "grid", "variants": {"CNN": {"model": {"name": "cnn"}},
                                                          "Forest": {"model": {"name": "random_forest", "n_estimators": 20}}}},
            # NSGA-II over accuracy and batch-1 CPU latency, choosing among three model families
            {"name": "pareto", "kind": "search", "from_stage": "grid", "sampler": "nsga2", "num_samples": 3,
             "space": {"model.name": {"type": "categorical", "choices": ["cnn", "elk", "lstm"]}},
             "metric": ["val_f1_macro", "latency_ms"], "mode": ["max", "min"]},
        ],
    }
    path = d / "remote.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return main(["run", str(path), "--quiet"]), MlflowClient(uri), d


def test_run_tree_and_models_on_a_remote_server(finished) -> None:
    rc, c, _ = finished
    assert rc == 0
    exp = c.get_experiment_by_name("remote")
    runs = c.search_runs([exp.experiment_id], max_results=100)
    levels = [r.data.tags.get("hartune.level") for r in runs]
    assert levels.count("run") == 1 and levels.count("stage") == 2 and levels.count("trial") == 5
    for t in (r for r in runs if r.data.tags.get("hartune.level") == "trial"):
        assert t.info.status == "FINISHED"
        assert "confusion_matrix.png" in {a.path for a in c.list_artifacts(t.info.run_id)}
        # Table 5 deployment figures of every trained model (watch: 100 samples at 50 Hz -> 100 ms budget)
        m = t.data.metrics
        assert m["deploy_num_parameters"] == m["num_parameters"] and m["deploy_threads"] >= 1
        assert m["deploy_latency_p95_ms"] >= m["deploy_latency_median_ms"] > 0
        assert m["deploy_size_on_disk_bytes"] > 4 * m["num_parameters"] and m["deploy_peak_memory_bytes"] > 0
        assert m["deploy_realtime_budget_ms"] == pytest.approx(100.0) and m["deploy_realtime_pass"] in (0.0, 1.0)
        # log_models: all -> every trial logged its own model, the forest with the sklearn flavour
        (model,) = c.search_logged_models([exp.experiment_id], filter_string=f"source_run_id = '{t.info.run_id}'")
        forest = t.data.params["model.name"] == "random_forest"
        mlflow.set_tracking_uri(c.tracking_uri)
        assert ("sklearn" if forest else "pytorch") in mlflow.models.get_model_info(f"models:/{model.model_id}").flavors
        if forest:  # no epochs: one report
            assert len(c.get_metric_history(t.info.run_id, "val_f1_macro")) == 1


def test_multi_objective_search_reaches_optuna_with_two_values(finished) -> None:
    _, _, d = finished
    storage = f"sqlite:///{d}/optuna.db"
    (name,) = [n for n in optuna.get_all_study_names(storage) if n.startswith("remote.pareto.")]  # one per stage run
    study = optuna.load_study(study_name=name, storage=storage)
    assert len(study.directions) == 2
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3 and all(len(t.values) == 2 for t in done)


def test_multi_objective_stage_logs_its_pareto_front(finished) -> None:
    import pandas as pd

    from hartune.tune.pareto import dominates

    _, c, _ = finished
    exp = c.get_experiment_by_name("remote")
    (st,) = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'stage' and attributes.run_name = 'pareto'")
    assert {"pareto.csv", "pareto.png"} <= {a.path for a in c.list_artifacts(st.info.run_id)}
    rows = pd.read_csv(c.download_artifacts(st.info.run_id, "pareto.csv"))
    assert len(rows) == 3 and rows["pareto"].any()
    assert (rows["latency_ms"] > 0).all() and set(rows["model.name"]) <= {"cnn", "elk", "lstm"}
    objectives = rows[["val_f1_macro", "latency_ms"]].to_numpy()
    for i, on_front in enumerate(rows["pareto"]):  # front = exactly the non-dominated trials
        dominated = any(dominates(objectives[j], objectives[i], ["max", "min"]) for j in range(len(rows)) if j != i)
        assert on_front == (not dominated)


def test_ls_lists_experiments_stages_and_best(finished, server, capsys) -> None:
    uri, _ = server
    assert main(["ls", "--uri", uri]) == 0
    out = capsys.readouterr().out
    assert "remote" in out and "stage grid" in out and "stage pareto" in out and "val_f1_macro" in out


def test_mlflow_opens_on_training_runs_with_their_datasets(finished) -> None:
    """The experiment kind tag (the UI's training runs, not the GenAI overview), each trial's data as a
    dataset input with the data fingerprint as digest (MLflow keeps 36 characters), the same datasets on
    the stage and parent runs (the UI shows the parent row collapsed), and the run's summary as the
    parent's description."""
    import json

    _, c, _ = finished
    exp = c.get_experiment_by_name("remote")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    every = c.search_runs([exp.experiment_id], max_results=100)
    trials = [r for r in every if r.data.tags.get("hartune.level") == "trial"]
    for t in trials:
        (d,) = t.inputs.dataset_inputs
        fingerprint = t.data.tags["hartune.data_fingerprint"]
        assert d.dataset.name == "watch" and d.dataset.digest == fingerprint[:36]
        assert {tag.key: tag.value for tag in d.tags}["mlflow.data.context"] == "training"
        schema, profile = json.loads(d.dataset.schema), json.loads(d.dataset.profile)
        assert schema["window"] == 100 and len(schema["channels"]) == 6 and len(schema["classes"]) == 7
        assert set(schema["splits"]) == {"train", "val", "test"} and "mlflow_tensorspec" in schema
        assert profile["fingerprint"] == fingerprint
    (parent,) = [r for r in every if r.data.tags.get("hartune.level") == "run"]
    digests = {d.dataset.digest for d in parent.inputs.dataset_inputs}
    assert digests == {t.inputs.dataset_inputs[0].dataset.digest for t in trials}
    note = parent.data.tags["mlflow.note.content"].splitlines()
    assert note[0].startswith("remote: done in ") and note[1].startswith("stage grid: 2 finished")
    assert note[2].startswith("stage pareto: 3 finished")


def test_hartune_ui_serves_the_runs_page(finished, server) -> None:
    """``hartune ui`` on the server's own SQLite store starts the MLflow UI and prints the runs view of
    the experiment; the page and the experiment's API answer 200. On the server itself it prints the
    server's address."""
    import subprocess
    import sys
    import urllib.request

    from live_servers import free_port

    uri, d = server
    _, c, _ = finished
    exp = c.get_experiment_by_name("remote").experiment_id
    assert main(["ui", "remote", "--uri", uri]) == 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hartune.cli", "ui", "remote", "--uri", f"sqlite:///{d}/server.db",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=d)
    try:
        line = proc.stdout.readline()
        url = f"http://127.0.0.1:{port}/#/experiments/{exp}/runs"
        assert line.strip().endswith(f"{url}  (Ctrl-C stops it)"), line + proc.stdout.read() if proc.poll() else line
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        api = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/get?experiment_id={exp}"
        with urllib.request.urlopen(api, timeout=30) as r:
            assert r.status == 200 and b"custom_model_development" in r.read()
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0  # and the MLflow UI it started stopped with it
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
