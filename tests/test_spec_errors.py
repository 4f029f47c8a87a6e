"""Malformed specs: one clear line naming the key path, the value and what is accepted; exit code 2;
the MLflow store untouched. Driven through the real CLI entry point (``hartune validate`` and
``hartune run``)."""

from __future__ import annotations

import copy
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from hartune.models import MODELS

GOOD = {
    "name": "bad_inputs",
    "seeds": [0],
    "datasets": {"watch": {"dataset": {"name": "watch"}, "window": {"length": 100, "stride": 100},
                           "split": {"kind": "holdout"}, "train": {"epochs": 1}}},
    "models": {"cnn": {"name": "cnn"}},
    "stages": [
        {"name": "grid", "kind": "grid", "variants": {"A": {"model": "cnn"}}},
        {"name": "search", "kind": "search", "from_stage": "grid",
         "space": {"train.lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-2, "log": True}}, "num_samples": 2},
    ],
}


GAMMA = {"gamma": {"type": "float", "low": 0.5, "high": 3.0}}


def edit(path: str, value, delete: bool = False):
    """A mutation of GOOD at a dotted path (list indices as ints)."""
    def apply(spec: dict) -> dict:
        spec = copy.deepcopy(spec)
        *heads, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        node = spec
        for h in heads:
            node = node[h]
        if delete:
            del node[last]
        else:
            node[last] = value
        return spec
    return apply


CASES = {
    "unknown top-level key": (edit("nmae", "x"), "nmae='x': Extra inputs are not permitted"),
    "wrong type": (edit("seeds", "zero"), "seeds='zero': Input should be a valid list"),
    "missing stages": (edit("stages", None, delete=True), "stages: Field required"),
    "unknown model": (edit("models/cnn/name", "usadd"), f"unknown model 'usadd'; valid: {', '.join(MODELS.names())}"),
    "model knob out of range": (edit("models/cnn/dropout", 2.0), "models.cnn: model cnn.dropout=2.0"),
    "unknown dataset": (edit("datasets/watch/dataset/name", "wisdmm"), "datasets.watch.dataset: Input tag 'wisdmm'"),
    "unknown sampler": (edit("stages/1/sampler", "tpee"), "stages[1].sampler='tpee': unknown sampler 'tpee'; valid:"),
    "unknown scheduler": (edit("stages/1/scheduler", {"name": "ashaa"}), "stages[1].scheduler: Input tag 'ashaa'"),
    "unknown stage kind": (edit("stages/0/kind", "gird"), "stages[0]: Input tag 'gird'"),
    "gamma below zero": (edit("stages/0/variants/A", {"model": "cnn", "loss": {"name": "focal", "gamma": -1}}),
                         "stages[0].variants.A: loss.gamma=-1: Input should be greater than or equal to 0"),
    "epsilon outside [0, 1)": (edit("stages/1/space", {"loss.epsilon": {"type": "float", "low": 0.0, "high": 1.5}}),
                               "stages[1].space.loss.epsilon"),
    "search space low above high": (edit("stages/1/space/train.lr/low", 1.0), "stages[1].space.train.lr"),
    "search space unknown type": (edit("stages/1/space/train.lr/type", "floatt"), "stages[1].space.train.lr"),
    "missing search space file": (edit("stages/1/space", "search_spaces/nope.yaml"), "nope.yaml"),
    "window longer than every recording": (edit("datasets/watch/window/length", 5000),
                                            "datasets.watch: window.length=5000 is longer than every recording"),
    "more GPUs per trial than the cluster": (edit("resources", {"gpu": 1}), "resources.gpu=1.0: more than the cluster's 0 GPUs"),
    "from_stage unknown": (edit("stages/1/from_stage", "gridd"), "from_stage='gridd'"),
    "duplicate stage name": (edit("stages/1/name", "grid"), "name='grid' is used twice"),
    "negative learning rate": (edit("datasets/watch/train/lr", -0.1), "datasets.watch.train.lr=-0.1: Input should be greater than 0"),
    "absent test subject": (edit("datasets/watch/split", {"kind": "holdout", "test_subjects": [42]}),
                            "test subjects [42] do not exist"),
    "unreachable tracking server": (edit("tracking", {"uri": "http://127.0.0.1:9"}), "tracking.uri='http://127.0.0.1:9': unreachable"),
    "retry window not positive": (edit("tracking", {"retry_s": 0}), "tracking.retry_s=0: Input should be greater than 0"),
    "negative retries": (edit("retries", -1), "retries=-1: Input should be greater than or equal to 0"),
    "search metric not reported each epoch": (edit("stages/1/metric", "test_f1_macro"),
                                              "metric 'test_f1_macro': accepted: val_*, train_*, num_parameters or latency_ms"),
    "multi-objective with a scheduler": (edit("stages/1", {**GOOD["stages"][1], "metric": ["val_f1_macro", "num_parameters"],
                                                        "mode": ["max", "min"], "scheduler": {"name": "asha"}}),
                                         "cannot use an early-stopping scheduler"),
    "stage dataset not in spec": (edit("stages/0/datasets", ["pamap2"]), "'pamap2' is not a dataset of this spec"),
    "unknown dataset preset": (edit("datasets/watch", {"preset": "wisdmm"}),
                               "datasets.watch.preset='wisdmm': unknown preset; valid: opportunity, pamap2, wisdm"),
    "composite weights naming no term": (edit("stages/0/variants/A", {"model": "cnn", "loss": {"name": "composite", "weights": {"ce": 1}}}),
                                         "stages[0].variants.A: loss: weights has keys ['ce']; terms are ['ce', 'focal', 'label_smoothing']"),
    "interleaved from a single-term loss": (edit("stages/1", {"name": "inter", "kind": "interleaved", "from_stage": "grid", "space": {"focal": {"range": GAMMA}}}),
                                            "stages[1]: starts from loss 'ce' with terms none; it searches the composite's terms focal"),
    "interleaved range outside the loss's": (lambda s: edit("loss", {"name": "acl"})(edit("stages/1", {
        "name": "inter", "kind": "interleaved", "from_stage": "grid",
        "space": {"focal": {"range": {"gamma": {**GAMMA["gamma"], "low": -1.0}}}}})(s)),
                                             "stages[1].focal.space.loss.terms.focal.gamma.low=-1.0: Input should be greater than or equal to 0"),
    "independent knob the loss lacks": (edit("stages/0", {"name": "grid", "kind": "independent", "space": {"focal": {"grid": [{"gama": 1}]}}}),
                                        "stages[0].focal.variants.gama=1: loss.gama=1: Extra inputs are not permitted"),
    "independent grid search without points": (edit("stages/0", {"name": "grid", "kind": "independent", "space": {"focal": {"range": GAMMA}}}),
                                               "stages[0].space.focal.grid: missing; search: grid needs the family's points"),
    "independent family not in the space": (edit("stages/0", {"name": "grid", "kind": "independent", "families": ["ls"], "space": {"focal": {"range": GAMMA}}}),
                                            "stages[0].families: 'ls' is not in the space; accepted: focal"),
    "family metric without its mode": (edit("stages/0", {"name": "grid", "kind": "independent", "space": {"focal": {"grid": [{"gamma": 1}], "metric": "val_ece"}}}),
                                       "give metric and mode together"),
    "unknown run preset": (edit("stages/0/variants/A", {"preset": "lstmm"}),
                           "stages[0].variants.A.preset='lstmm': unknown run preset; valid: dae_cnn_source, hs_cnn_source"),
    "train fraction of zero": (edit("datasets/watch/train_fraction", 0),
                               "datasets.watch.train_fraction.fraction=0: Input should be greater than 0"),
    "train fraction above one": (edit("datasets/watch/train_fraction", 1.5),
                                 "datasets.watch.train_fraction.fraction=1.5: Input should be less than or equal to 1"),
    "comparison reference not a row": (edit("stages/0", {"name": "grid", "kind": "comparison", "variants": {"A": {"model": "cnn"}},
                                                       "reference": "USAD"}),
                                       "stages[0].reference: 'USAD' is not a variant; accepted: A"),
    "comparison per-class dataset not the stage's": (edit("stages/0", {"name": "grid", "kind": "comparison", "variants": {"A": {"model": "cnn"}},
                                                                     "per_class": ["wisdm"]}),
                                                     "stages[0].per_class: 'wisdm' is not a dataset of the stage; accepted: watch"),
    "comparison feature space unknown": (edit("stages/0", {"name": "grid", "kind": "comparison", "variants": {"A": {"model": "cnn"}},
                                                         "feature_space": "tsne"}),
                                         "stages[0].feature_space='tsne': Input should be 'penultimate' or 'logits'"),
    "grid file missing": (edit("stages/0/variants", "no_such_rows.yaml"),
                          "stages[0].variants='no_such_rows.yaml': cannot read"),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A real MLflow SQLite store holding one run, to show that bad specs leave it untouched."""
    d = tmp_path_factory.mktemp("store")
    c = MlflowClient(f"sqlite:///{d}/mlflow.db")
    run = c.create_run(c.create_experiment("existing"))
    c.log_metric(run.info.run_id, "m", 1.0)
    c.set_terminated(run.info.run_id)
    return d / "mlflow.db"


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_spec_one_line_exit_2_store_untouched(case, command, tmp_path, store, capsys, monkeypatch) -> None:
    from hartune.cli import main

    mutate, expected = CASES[case]
    spec = {**GOOD, "tracking": {"uri": f"sqlite:///{store}"}}
    spec = mutate(spec)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    before = _digest(store)
    rc = main([command, str(path)])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2
    assert len(lines) == 1, err
    assert str(path) in lines[0] and expected in lines[0], lines[0]
    assert _digest(store) == before
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / ".hartune").exists()


def test_folds_whose_count_needs_missing_data(tmp_path, capsys, monkeypatch) -> None:
    """LOSO has one fold per subject: without the recordings its folds cannot be counted, and the line
    says which dataset is missing (nothing is downloaded: no network here)."""
    from hartune.cli import main

    monkeypatch.setenv("HARTUNE_DATA", str(tmp_path / "empty"))
    spec = edit("datasets/watch", {"dataset": {"name": "wisdm"}, "window": {"length": 90, "stride": 45},
                                   "split": {"kind": "loso", "folds": "all"}, "train": {"epochs": 1}})(GOOD)
    path = tmp_path / "loso.yaml"
    path.write_text(yaml.safe_dump({**spec, "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"}}, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(path)]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert ("datasets.watch.split.folds='all': a loso split has one fold per subject, so counting its folds "
            "needs dataset 'wisdm'") in lines[0] and "WISDM_ar_v1.1_raw.txt" in lines[0]
    assert not (tmp_path / "mlflow.db").exists()


def test_not_yaml_and_not_a_mapping(tmp_path, capsys) -> None:
    from hartune.cli import main

    (tmp_path / "a.yaml").write_text("name: [unclosed\n")
    (tmp_path / "b.yaml").write_text("- just\n- a list\n")
    assert main(["validate", str(tmp_path / "a.yaml")]) == 2
    assert main(["validate", str(tmp_path / "b.yaml")]) == 2
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert "a.yaml: not readable YAML" in lines[0]
    assert "b.yaml: a spec is a YAML mapping" in lines[1]
    assert "missing.yaml: no such file" in lines[2]


def test_real_command_exits_2(tmp_path) -> None:
    spec = edit("models/cnn/name", "usadd")(GOOD)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = subprocess.run([sys.executable, "-m", "hartune.cli", "run", str(path)], check=False, capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "unknown model 'usadd'" in out.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_every_shipped_spec_validates(capsys) -> None:
    from hartune.cli import main

    root = Path(__file__).resolve().parents[1]
    # usad_full.yaml needs the three releases and a GPU cluster: tests/data/test_usad_full.py
    # validates it with native-format fixtures and --gpus
    specs = sorted(p for p in (root / "ablations").glob("*.yaml") if p.name != "usad_full.yaml")
    assert len(specs) >= 3
    for spec in specs:
        assert main(["validate", str(spec)]) == 0, capsys.readouterr().err
