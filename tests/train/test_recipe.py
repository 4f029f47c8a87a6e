"""The one recipe on real data: reproducible, reports every epoch, keeps its normalisation, fails loudly."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hartune.data import DataConfig
from hartune.train import NonFiniteLossError, RunConfig, train


def _cfg(data: DataConfig, **train_kw) -> RunConfig:
    return RunConfig.model_validate({
        "data": data.model_dump(), "model": {"name": "cnn"},
        "train": {"epochs": 2, "batch_size": 64, "lr": 3e-3, "num_threads": 1, **train_kw}, "seed": 3,
    })


class Recorder:
    def __init__(self) -> None:
        self.epochs: list[tuple[int, dict]] = []

    def on_epoch_end(self, epoch: int, metrics: dict, snapshot=None) -> None:
        self.epochs.append((epoch, dict(metrics)))


def test_same_seed_twice_gives_identical_metrics(watch_cfg: DataConfig) -> None:
    a, b = train(_cfg(watch_cfg)), train(_cfg(watch_cfg))
    assert a.test == b.test
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    c = train(_cfg(watch_cfg).model_copy(update={"seed": 4}))
    assert c.history[0]["train_loss"] != a.history[0]["train_loss"]


def test_callbacks_get_every_epoch_and_result_is_complete(watch_cfg: DataConfig) -> None:
    rec = Recorder()
    r = train(_cfg(watch_cfg, epochs=3), callbacks=[rec])
    assert [e for e, _ in rec.epochs] == [1, 2, 3]
    for _, m in rec.epochs:
        assert {"train_loss", "train_accuracy", "val_loss", "val_f1_macro", "val_gmean", "lr"} <= set(m)
    assert 1 <= r.best_epoch <= 3
    assert r.val == {k[4:]: v for k, v in rec.epochs[r.best_epoch - 1][1].items() if k.startswith("val_")}
    assert set(r.test) >= {"accuracy", "f1_macro", "f1_weighted", "gmean", "auc_macro", "ece", "loss"}
    assert r.test_prob.shape == (len(r.data.test.y), 7)


def test_returned_model_carries_its_normalisation(watch_cfg: DataConfig) -> None:
    r = train(_cfg(watch_cfg, epochs=1))
    raw = torch.from_numpy(r.data.test.x * r.data.std + r.data.mean)  # undo the z-score
    with torch.no_grad():
        prob = torch.softmax(r.model(raw), dim=1).numpy()
    np.testing.assert_allclose(prob, r.test_prob, atol=1e-4)
    assert torch.equal(r.model.mean.flatten(), torch.from_numpy(r.data.mean))


def test_exploding_loss_is_an_error_not_a_result(watch_cfg: DataConfig) -> None:
    with pytest.raises(NonFiniteLossError, match="training loss is (nan|inf)"):
        train(_cfg(watch_cfg, lr=1e30, epochs=2, lr_schedule="none"))


def test_patience_stops_early(recordings_npz: Path) -> None:
    data = DataConfig.model_validate({
        "dataset": {"name": "arrays", "path": str(recordings_npz)}, "window": {"length": 20, "stride": 20},
        "split": {"kind": "holdout", "test_subjects": [0, 1], "val_subjects": [2]},
    })
    r = train(_cfg(data, epochs=30, patience=2, lr=1e-6))  # lr too small to ever improve
    assert r.stopped_early and len(r.history) < 30


def test_adaptive_composite_logs_terms_and_weights_every_epoch(watch_cfg: DataConfig) -> None:
    cfg = _cfg(watch_cfg, epochs=3).model_copy(update={"loss": RunConfig.model_validate({"loss": {"name": "acl"}}).loss})
    rec = Recorder()
    train(cfg, callbacks=[rec])
    weights = []
    for _, m in rec.epochs:
        assert {"train_loss_ce", "train_loss_focal", "train_loss_label_smoothing", "val_ece"} <= set(m)
        w = [m[f"loss_weight_{t}"] for t in ("ce", "focal", "label_smoothing")]
        assert sum(w) == pytest.approx(1.0, abs=1e-6) and min(w) >= 0.1 - 1e-6 and max(w) <= 0.8 + 1e-6
        weights.append(w)
    assert weights[0] == pytest.approx([0.33, 0.33, 0.34], abs=1e-6)
    # the controller moved the weights once validation accuracy changed between epochs
    accs = [m["val_accuracy"] for _, m in rec.epochs]
    assert (weights[2] != weights[1]) == (accs[1] != accs[0])


def _focal_trained(data: DataConfig, alpha: float, rule: str) -> torch.Tensor:
    """Every weight of a CNN after one epoch with focal (γ = 1) as the only loss."""
    cfg = _cfg(data, epochs=1, lr_schedule="none").model_copy(update={"loss": RunConfig.model_validate(
        {"loss": {"name": "focal", "gamma": 1.0, "alpha": alpha, "alpha_rule": rule}}).loss})
    return torch.nn.utils.parameters_to_vector(train(cfg).model.model.parameters()).detach()


def test_two_focal_alphas_train_two_models(watch_cfg: DataConfig) -> None:
    """Table 9's α points must differ: a scalar α weighs the minority classes α and the rest 1 - α, so
    α = 0.25 and 0.75 train different weights. Applied to every class (``alpha_rule: uniform``) it only
    scales the loss, which Adam cancels: the two α then train (nearly) the same weights."""
    a, b = (_focal_trained(watch_cfg, x, "minority") for x in (0.25, 0.75))
    u, v = (_focal_trained(watch_cfg, x, "uniform") for x in (0.25, 0.75))
    print(f"max |Δw|: minority {float((a - b).abs().max()):.3g}, uniform {float((u - v).abs().max()):.3g}")
    assert float((a - b).abs().max()) > 30 * float((u - v).abs().max())  # measured: 0.13 vs 6.8e-4
    assert float((a - b).abs().max()) > 1e-2
