"""Seed 004's transfer recipe on the real watch data: pretrain on subjects A = 1..5, then fine-tune only
the FC layers (``fc``, ``head``) on subjects B = 6..10. Everything else must come out bit-identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hartune.data import DataConfig, load_recordings
from hartune.data.datasets import WatchDataset
from hartune.registry import ConfigError, validate_config
from hartune.train import RunConfig, TrainResult, train

SUBJECTS_A, SUBJECTS_B = (1, 2, 3, 4, 5), (6, 7, 8, 9, 10)
FC = ("fc", "head")


def watch_subset(path: Path, subjects: tuple[int, ...], num_classes: int = 7) -> dict:
    """The watch recordings of ``subjects`` (and of the first ``num_classes`` classes) as an ``arrays``
    npz; returns a data config dict whose split tests the last subject and validates the one before."""
    rec = load_recordings(WatchDataset())
    keep = [i for i, (s, lab) in enumerate(zip(rec.subjects, rec.labels)) if s in subjects and lab[0] < num_classes]
    np.savez(
        path, signals=np.concatenate([rec.signals[i] for i in keep]), lengths=[len(rec.signals[i]) for i in keep],
        y=[int(rec.labels[i][0]) for i in keep], subject=rec.subjects[keep],
        channel_names=np.array(rec.channel_names), class_names=np.array(rec.class_names[:num_classes]),
        sampling_rate_hz=np.array(rec.sampling_rate_hz),
    )
    return {"dataset": {"name": "arrays", "path": str(path)}, "window": {"length": 100, "stride": 100},
            "split": {"kind": "holdout", "test_subjects": [subjects[-1]], "val_subjects": [subjects[-2]]}}


@pytest.fixture(scope="module")
def subsets(tmp_path_factory) -> dict[str, dict]:
    d = tmp_path_factory.mktemp("watch_subsets")
    return {"a": watch_subset(d / "a.npz", SUBJECTS_A), "b": watch_subset(d / "b.npz", SUBJECTS_B),
            "b5": watch_subset(d / "b5.npz", SUBJECTS_B, num_classes=5)}


def transfer_cfg(data: dict, pretrain: dict, trainable=FC, model: str = "cnn", epochs: int = 2) -> RunConfig:
    return RunConfig.model_validate({
        "data": data, "model": {"name": model}, "seed": 1,
        "train": {"epochs": epochs, "batch_size": 32, "lr": 3e-3, "num_threads": 1},
        "transfer": {"pretrain": pretrain, "trainable": list(trainable)},
    })


class Recorder:
    def __init__(self) -> None:
        self.epochs: list[tuple[int, dict]] = []

    def on_epoch_end(self, epoch: int, metrics: dict, snapshot=None) -> None:
        self.epochs.append((epoch, dict(metrics)))


@pytest.fixture(scope="module")
def fine_tuned(subsets) -> tuple[TrainResult, Recorder]:
    rec = Recorder()
    return train(transfer_cfg(subsets["b"], subsets["a"]), callbacks=[rec]), rec


def is_fc(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in FC)


def test_fc_only_fine_tuning_leaves_every_other_weight_and_buffer_bit_identical(fine_tuned) -> None:
    r, _ = fine_tuned
    assert r.data.info["train_subjects"] == [6, 7, 8]  # fine-tuned on B ...
    before, after = r.extra["pretrained_state"], r.model.model.state_dict()  # ... pretrained on A
    assert before.keys() == after.keys()
    frozen = [k for k in before if not is_fc(k)]
    buffers = [k for k in frozen if "running_" in k or "num_batches_tracked" in k]
    assert frozen and buffers  # the cnn's conv blocks and their BatchNorm statistics
    for k in frozen:
        assert torch.equal(before[k], after[k]), f"{k} moved during FC-only fine-tuning"
    assert not torch.equal(before["fc.0.weight"], after["fc.0.weight"])
    assert not torch.equal(before["head.1.weight"], after["head.1.weight"])


def test_only_fc_parameters_train(fine_tuned) -> None:
    r, rec = fine_tuned
    core = r.model.model
    n_fc = sum(p.numel() for n, p in core.named_parameters() if is_fc(n))
    assert r.num_parameters == sum(p.numel() for p in core.parameters()) > n_fc  # the whole model
    assert r.extra["trainable_parameters"] == [n for n, _ in core.named_parameters() if is_fc(n)]
    assert [e for e, _ in rec.epochs] == [1, 2]  # callbacks see the fine-tune epochs only
    assert all(m["num_trainable_parameters"] == n_fc for _, m in rec.epochs)
    assert len(r.extra["pretrain_history"]) == 2  # pretrain_epochs defaults to train.epochs
    assert {"f1_macro", "accuracy"} <= set(r.extra["pretrain_test"]) and r.extra["pretrain_val"]


def test_bad_prefix_is_one_line_naming_the_top_level_modules(subsets) -> None:
    with pytest.raises(ConfigError) as e:
        train(transfer_cfg(subsets["b"], subsets["a"], trainable=["fc", "clasifier"]))
    msg = str(e.value)
    assert "\n" not in msg
    assert "transfer.trainable: 'clasifier' matches no parameter of model 'cnn'" in msg
    assert msg.endswith("its top-level modules: blocks, fc, head")
    with pytest.raises(ConfigError, match="transfer.trainable: List should have at least 1 item"):
        validate_config(RunConfig, {"transfer": {"pretrain": subsets["a"], "trainable": []}})


def test_other_class_count_reinitialises_the_classifier_which_must_train(subsets) -> None:
    with pytest.raises(ConfigError, match=r"7 classes in pretraining and 5 in data re-initialises head\.1"):
        train(transfer_cfg(subsets["b5"], subsets["a"], trainable=["fc"]))
    cfg = transfer_cfg(subsets["b5"], subsets["a"], model="dae_cnn", epochs=1)
    r = train(cfg)
    assert r.extra["reinitialised"] == ["head.1.bias", "head.1.weight"]
    assert r.test_prob.shape[1] == 5
    before, after = r.extra["pretrained_state"], r.model.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not is_fc(k))


def test_spec_names_the_pretraining_dataset_by_key(subsets, tmp_path, capsys, monkeypatch) -> None:
    from hartune.cli import main
    from hartune.spec import load_spec

    variant = {"model": "cnn", "transfer": {"pretrain": "subjects_a", "trainable": ["fc", "head"], "pretrain_epochs": 1}}
    spec = {
        "name": "transfer", "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"},
        "datasets": {"subjects_a": {**subsets["a"], "train": {"epochs": 1}},
                     "subjects_b": {**subsets["b"], "train": {"epochs": 1}}},
        "stages": [{"name": "fc_only", "kind": "grid", "datasets": ["subjects_b"], "variants": {"fc_only": variant}}],
    }
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["validate", str(good)]) == 0, capsys.readouterr().err
    cfg = load_spec(good)[0].run_config("subjects_b", variant, 0, "")
    assert cfg.transfer is not None and cfg.transfer.pretrain == DataConfig.model_validate(subsets["a"])

    variant["transfer"]["pretrain"] = "subjects_c"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec, sort_keys=False))
    capsys.readouterr()
    assert main(["validate", str(bad)]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert f"{bad}: stages[0].variants.fc_only: transfer.pretrain='subjects_c': not a dataset" in lines[0]
    assert lines[0].endswith("accepted: subjects_a, subjects_b")
