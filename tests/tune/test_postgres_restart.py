"""PostgreSQL restart during a search (issue 21, fault 2): a PostgreSQL instance of our own holds both the
MLflow server's backend store and the Optuna storage; it is stopped while a TPE search trains, and
started again. The MLflow server answers 5xx meanwhile and the driver's Optuna calls wait the outage
out (so the trials wait at their next report). Nothing fails, every per-epoch step lands once, and
the study has every trial exactly once."""

from __future__ import annotations

import time

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from fault_runs import all_trials, hartune_run, wait_for
from live_servers import postgres_instance, restartable_mlflow_server
from spec_runs import watch_entry

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]  # its own PostgreSQL, not the shared one

EPOCHS, SAMPLES = 60, 3
DOWN_S = 10.0


@pytest.fixture(scope="module")
def restarted(tmp_path_factory):
    pytest.importorskip("psycopg2")
    d = tmp_path_factory.mktemp("pgrestart")
    with postgres_instance(d) as pg:
        backend, studies = pg.create_database("mlflow"), pg.create_database("optuna")
        with restartable_mlflow_server(backend, d) as server:
            doc = {
                "name": "pgrestart",
                "seeds": [0],
                "max_concurrent": 2,
                "tracking": {
                    "uri": server.uri,
                    "metrics_every_s": 0,
                    "retry_s": 300,
                    "log_models": "none",
                    "optuna_storage": studies,
                },
                "storage": str(d / "ray"),
                "datasets": {"watch": watch_entry(epochs=EPOCHS, stride=100)},
                "models": {"cnn": {"name": "cnn", "channels": [16, 16], "hidden": 16}},
                "stages": [
                    {
                        "name": "search",
                        "kind": "search",
                        "sampler": "tpe",
                        "num_samples": SAMPLES,
                        "base": {"model": "cnn"},
                        "space": {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
                    }
                ],
            }
            path = d / "pgrestart.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
            c = MlflowClient(server.uri)
            proc = hartune_run(path)

            def training() -> bool:
                t = all_trials(c, "pgrestart")
                return bool(t) and all(c.get_metric_history(r.info.run_id, "val_loss") for r in t)

            wait_for("a trial logged an epoch", training, proc)
            pg.stop()
            stopped = time.time() * 1000
            time.sleep(DOWN_S)
            back = time.time() * 1000
            pg.start()
            out, err = proc.communicate(timeout=700)
            yield proc.returncode, out + err, c, studies, stopped, back


def test_no_trial_fails_and_every_step_lands_once(restarted) -> None:
    rc, out, c, _, stopped, back = restarted
    assert rc == 0, out[-3000:]
    exp = c.get_experiment_by_name("pgrestart")
    every = c.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["hartune.level"] for r in every) == ["run", "stage"] + ["trial"] * SAMPLES
    assert all(r.info.status == "FINISHED" for r in every)
    trials = [r for r in every if r.data.tags["hartune.level"] == "trial"]
    for t in trials:
        history = c.get_metric_history(t.info.run_id, "val_loss")
        assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1))
    # the outage hit trials mid-training (the driver's Optuna calls wait it out, and a trial waits at its
    # next report for the driver: unlike a tracking-server outage, training pauses)
    assert any(t.info.start_time < stopped and t.info.end_time > back for t in trials)


def test_the_study_has_every_trial_exactly_once(restarted) -> None:
    _, _, c, studies, _, _ = restarted
    (name,) = optuna.get_all_study_names(studies)
    study = optuna.load_study(study_name=name, storage=studies)
    assert [t.number for t in study.trials] == list(range(SAMPLES))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * SAMPLES
    exp = c.get_experiment_by_name("pgrestart")
    runs = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
    assert sorted(float(r.data.params["train.lr"]) for r in runs) == pytest.approx(
        sorted(t.params["train.lr"] for t in study.trials)
    )
