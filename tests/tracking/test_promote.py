"""``hartune promote`` end to end: two real tiny specs through Ray Tune into a real MLflow SQLite store,
then the registry: promote, reload through the alias in a fresh process, refuse a worse model, force it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from hartune.cli import main
from hartune.data import DataConfig, prepare
from hartune.data.datasets import load_recordings
from hartune.data.windows import make_windows

DATA = {
    "dataset": {"name": "watch"},
    "window": {"length": 100, "stride": 200},
    "split": {"kind": "holdout", "test_subjects": [1, 2], "val_subjects": [3]},
}


def spec(name: str, d, train: dict) -> dict:
    return {
        "name": name,
        "seeds": [0],
        "max_concurrent": 2,
        "datasets": {"watch": {**DATA, "train": {"batch_size": 64, **train}}},
        "models": {"cnn": {"name": "cnn", "channels": [16, 16]}},
        "stages": [{"name": "grid", "kind": "grid", "variants": {"CNN": {"model": "cnn"}}}],
        "tracking": {"uri": f"sqlite:///{d}/mlflow.db", "log_models": "best"},
        "storage": str(d / "ray"),
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory, ray_local):
    """Experiment ``good`` (2 epochs, lr 3e-3) and ``bad`` (1 epoch, lr 1e-7: barely moves from init)."""
    d = tmp_path_factory.mktemp("promote")
    for name, train in [("good", {"epochs": 2, "lr": 0.003}), ("bad", {"epochs": 1, "lr": 1e-7, "lr_schedule": "none"})]:
        path = d / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec(name, d, train), sort_keys=False))
        assert main(["run", str(path), "--quiet"]) == 0
    return f"sqlite:///{d}/mlflow.db", d


def promote(uri: str, *args: str) -> int:
    return main(["promote", *args, "--uri", uri])


def raw_test_windows() -> tuple[np.ndarray, np.ndarray, str]:
    """The run's test windows in original units, rebuilt the way ``prepare`` cuts them, with their
    labels and the fingerprint of the whole prepared split (to check it is the run's data)."""
    cfg = DataConfig.model_validate(DATA)
    w = make_windows(load_recordings(cfg.dataset), cfg.window)
    test = w.take(cfg.split.assign(w.subject, w.y, session=w.session).test)
    return test.x.astype(np.float32), test.y, prepare(cfg).fingerprint


@pytest.fixture(scope="module")
def champion(store):
    uri, _ = store
    assert promote(uri, "good", "--name", "har") == 0
    c = MlflowClient(uri)
    return c, c.get_model_version_by_alias("har", "champion")


def test_promote_registers_a_tagged_pyfunc_as_champion(store, champion, capsys) -> None:
    c, mv = champion
    assert str(mv.version) == "1"
    run = c.get_run(mv.run_id)
    assert run.data.tags["hartune.level"] == "trial" and run.data.tags["hartune.best_of_stage"] == "true"
    t = mv.tags
    assert t["hartune.data_fingerprint"] == run.data.tags["hartune.data_fingerprint"] and len(t["hartune.data_fingerprint"]) == 64
    assert t["hartune.spec_hash"] == run.data.tags["hartune.spec_hash"]
    split = json.loads(t["hartune.split"])
    assert split["kind"] == "holdout" and split["test_subjects"] == [1, 2] and split["val_subjects"] == [3]
    assert float(t["test_f1_macro"]) == pytest.approx(run.data.metrics["test_f1_macro"], rel=1e-5)
    assert float(t["test_accuracy"]) == pytest.approx(run.data.metrics["test_accuracy"], rel=1e-5)
    # the registered model is the pyfunc logged beside the trial's own model, with signature + example
    logged = {m.name: m for m in c.search_logged_models([run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")}
    assert set(logged) == {"model", "pyfunc"} and mv.source == logged["pyfunc"].model_uri
    import mlflow

    mlflow.set_tracking_uri(c.tracking_uri)
    info = mlflow.models.get_model_info("models:/har@champion")
    assert info.flavors.keys() >= {"python_function"} and info.saved_input_example_info is not None
    assert list(info.signature.inputs.inputs[0].shape) == [-1, 100, 6]
    assert [s.name for s in info.signature.outputs.inputs][:2] == ["label", "label_index"]
    card = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/model_card.md")
    assert "USAD" in card and "seeds/001" in card and "test_subjects: [1, 2]" in card and "model.channels = [16, 16]" in card


def test_champion_reloads_in_a_fresh_process_and_reproduces_test_accuracy(store, champion, tmp_path) -> None:
    c, mv = champion
    x, y, fingerprint = raw_test_windows()
    assert fingerprint == mv.tags["hartune.data_fingerprint"]  # the very windows the run was tested on
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import mlflow, numpy as np
        model = mlflow.pyfunc.load_model("models:/har@champion")
        model.predict(np.load({str(tmp_path / 'x.npy')!r})).to_parquet({str(tmp_path / 'pred.parquet')!r})
    """)
    env = {**os.environ, "MLFLOW_TRACKING_URI": c.tracking_uri}
    out = subprocess.run([sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    import pandas as pd

    pred = pd.read_parquet(tmp_path / "pred.parquet")
    classes = json.loads(__import__("mlflow").artifacts.load_text(f"runs:/{mv.run_id}/confusion_matrix.json"))["class_names"]
    probs = pred[[f"prob_{k}" for k in classes]].to_numpy()
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (pred["label_index"].to_numpy() == probs.argmax(1)).all()
    assert (pred["label"].to_numpy() == np.asarray(classes)[pred["label_index"].to_numpy()]).all()
    accuracy = float((pred["label_index"].to_numpy() == y).mean())
    assert accuracy == pytest.approx(c.get_run(mv.run_id).data.metrics["test_accuracy"], abs=1e-6)


def test_worse_model_is_refused_and_recorded_until_forced(store, champion, capsys) -> None:
    uri, _ = store
    c, first = champion
    capsys.readouterr()
    assert promote(uri, "bad", "--name", "har") == 1
    err = capsys.readouterr().err.strip().splitlines()
    good = c.get_run(first.run_id).data.metrics["test_f1_macro"]
    assert len(err) == 1 and "refused" in err[0] and f"{good:.4f}" in err[0]
    bad = c.search_runs([c.get_experiment_by_name("bad").experiment_id], "tags.`hartune.best_of_stage` = 'true'")[0]
    assert f"{bad.data.metrics['test_f1_macro']:.4f}" in err[0]
    assert "does not beat" in bad.data.tags["hartune.promotion_refused"]
    assert c.get_model_version_by_alias("har", "champion").version == first.version  # unchanged
    assert len(c.search_model_versions("name = 'har'")) == 1  # nothing registered
    assert promote(uri, "good", "--name", "har") == 1  # the champion does not beat itself either

    assert promote(uri, "bad", "--name", "har", "--force") == 0
    now = c.get_registered_model("har").aliases
    assert {k: str(v) for k, v in now.items()} == {"champion": "2", "previous": str(first.version)}
    assert c.get_model_version("har", "2").run_id == bad.info.run_id
    assert c.get_model_version("har", "2").tags["hartune.forced"] == "true"


def test_unknown_experiment_is_one_line_exit_2(store, capsys) -> None:
    uri, _ = store
    capsys.readouterr()
    assert promote(uri, "nope") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nope' not found" in err[0] and "good" in err[0]
