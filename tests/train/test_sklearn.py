"""The recipe's scikit-learn path (random forest on window statistics) on the real watch data."""

from __future__ import annotations

import numpy as np
import pytest

from hartune.data import DataConfig
from hartune.models import MODELS
from hartune.models.forest_steps import FEATURES, WindowFeatures
from hartune.train import RunConfig, train


def _cfg(data: DataConfig, seed: int = 0, **model) -> RunConfig:
    return RunConfig.model_validate({"data": data.model_dump(), "seed": seed,
                                     "model": {"name": "random_forest", "n_estimators": 25, **model}})


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, dict]] = []

    def on_epoch_end(self, epoch: int, metrics: dict, snapshot=None) -> None:
        self.calls.append((epoch, metrics))


def test_forest_is_fitted_once_reported_once_and_reproducible(watch_cfg: DataConfig) -> None:
    assert MODELS.get("random_forest").family == "sklearn"
    rec = Recorder()
    a = train(_cfg(watch_cfg), callbacks=[rec])
    assert [e for e, _ in rec.calls] == [1] and a.best_epoch == 1 and len(a.history) == 1
    assert {"train_loss", "train_accuracy", "val_f1_macro", "val_ece", "num_parameters", "latency_ms"} <= set(rec.calls[0][1])
    assert a.test["f1_macro"] > 0.5  # 7 classes: chance is about 0.14
    assert a.num_parameters == sum(t.tree_.node_count for t in a.model.named_steps["forest"].estimators_)
    b, c = train(_cfg(watch_cfg)), train(_cfg(watch_cfg, seed=1))
    assert a.test == b.test and a.num_parameters == b.num_parameters
    assert c.num_parameters != a.num_parameters  # the seed reaches the forest


def test_forest_on_the_processed_windows_directly(watch_cfg: DataConfig) -> None:
    """Seed 004's setting (``features: raw``): the forest reads the z-scored window itself, T*C values."""
    r = train(_cfg(watch_cfg, features="raw"))
    assert r.model.named_steps["forest"].n_features_in_ == r.data.window * r.data.num_channels
    assert r.test["f1_macro"] > 0.3  # 7 classes: chance is about 0.14
    stats = train(_cfg(watch_cfg))
    assert stats.model.named_steps["forest"].n_features_in_ == len(FEATURES) * r.data.num_channels


def test_the_returned_pipeline_takes_raw_windows(watch_cfg: DataConfig) -> None:
    r = train(_cfg(watch_cfg))
    raw = r.data.test.x * r.data.std + r.data.mean  # undo the z-score
    np.testing.assert_allclose(r.model.predict_proba(raw), r.test_prob, atol=1e-9)


def test_window_features_by_hand() -> None:
    # one window, one channel: 1, 2, 3, 4 (mean 2.5; deviations ±0.5, ±1.5)
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    f = dict(zip(FEATURES, WindowFeatures().transform(x)[0]))
    assert f["mean"] == 2.5 and f["min"] == 1.0 and f["max"] == 4.0 and f["median"] == 2.5
    assert f["std"] == pytest.approx(np.sqrt(1.25))  # (0.25 + 2.25) * 2 / 4
    assert f["p25"] == pytest.approx(1.75) and f["p75"] == pytest.approx(3.25)
    assert f["skew"] == pytest.approx(0.0)
    assert f["kurtosis"] == pytest.approx((0.0625 + 5.0625) * 2 / 4 / 1.25**2 - 3)  # m4 / m2^2 - 3 = -1.36
    assert f["rms"] == pytest.approx(np.sqrt(30 / 4)) and f["mean_abs_diff"] == 1.0
    assert f["mean_crossing_rate"] == pytest.approx(1 / 3)  # one sign change over 3 steps
    flat = WindowFeatures().transform(np.full((1, 5, 1), 7.0))[0]
    assert np.isfinite(flat).all() and dict(zip(FEATURES, flat))["skew"] == 0.0
