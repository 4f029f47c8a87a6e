"""How many synthetic windows a run asks for, and augmentation through the one recipe on real data."""

from __future__ import annotations

import numpy as np
import pytest

from hartune.augment.source import synthetic_counts
from hartune.data import DataConfig, ImbalanceConfig
from hartune.train import RunConfig, train

NAMES = ("a", "b", "c", "d")


def test_balanced_counts_fill_the_smallest_classes_first() -> None:
    y = np.repeat([0, 1, 2], [10, 4, 1])  # 15 real windows; class 3 absent
    # budget 1 x 15 = 15: level L with (L-4) + (L-1) <= 15 for L <= 10 -> L = 10: 6 + 9 = 15
    assert synthetic_counts(y, 4, 1.0, "balanced", NAMES) == {0: 0, 1: 6, 2: 9}
    # budget 0.4 x 15 = 6: L = 5 gives 1 + 4 = 5 (L = 6 would need 7); the one left goes to the
    # smallest class after filling (totals 10, 5, 5: class 1 comes first)
    assert synthetic_counts(y, 4, 0.4, "balanced", NAMES) == {0: 0, 1: 2, 2: 4}
    # beyond equality (budget 45 > 15): everyone rises together, 10+L', 4+.., 1+..
    big = synthetic_counts(y, 4, 3.0, "balanced", NAMES)
    totals = [n + big[k] for k, n in enumerate([10, 4, 1])]
    assert sum(big.values()) == 45 and max(totals) - min(totals) <= 1
    assert synthetic_counts(y, 4, 0.0, "balanced", NAMES) == {0: 0, 1: 0, 2: 0}


def test_proportional_and_explicit_counts() -> None:
    y = np.repeat([0, 1, 2], [10, 4, 1])
    got = synthetic_counts(y, 4, 2.0, "proportional", NAMES)  # 30 in the ratio 10:4:1 -> 20, 8, 2
    assert got == {0: 20, 1: 8, 2: 2}
    assert synthetic_counts(y, 4, 1.0, {"c": 7, "a": 1}, NAMES) == {2: 7, 0: 1}


def test_uniform_counts_split_the_budget_equally() -> None:
    """USAD Eq. 13: class-balanced labels y ~ U{1..K} for the synthetic pretraining set."""
    y = np.repeat([0, 1, 2], [10, 4, 1])  # 15 real windows; class 3 absent (nothing to condition on)
    assert synthetic_counts(y, 4, 1.0, "uniform", NAMES) == {0: 5, 1: 5, 2: 5}
    assert synthetic_counts(y, 4, 1.2, "uniform", NAMES) == {0: 6, 1: 6, 2: 6}  # 18
    assert synthetic_counts(y, 4, 0.5, "uniform", NAMES) == {0: 3, 1: 3, 2: 2}  # 8: the two left to 0 and 1


TINY = {"timesteps": 50, "epochs": 3, "denoiser": {"width": 16, "channel_mult": [1, 2]},
        "sampling": {"sampler": "ddim", "ddim_steps": 5}}


@pytest.mark.parametrize("mode", ["mix", "pretrain"])
def test_augmentation_touches_the_training_split_only(watch_cfg: DataConfig, mode: str) -> None:
    data = watch_cfg.model_copy(update={"imbalance": ImbalanceConfig(ratio=5)}).model_dump()
    base = {"data": data, "model": {"name": "cnn", "channels": [16, 16]}, "train": {"epochs": 1, "num_threads": 1}}
    plain = train(RunConfig.model_validate(base))
    aug = train(RunConfig.model_validate({**base, "augment": {"mode": mode, "ratio": 0.5, "generator": TINY}}))
    info = aug.extra["augment"]
    n_train = len(plain.data.train.y)
    assert info["synthetic_windows"] == round(0.5 * n_train) and info["trained"] is True
    for part in ("train", "val", "test"):  # the real windows, untouched
        assert np.array_equal(getattr(aug.data, part).x, getattr(plain.data, part).x)
    assert len(aug.test_prob) == len(plain.test_prob)
    if mode == "pretrain":
        assert len(aug.extra["synthetic_pretrain_history"]) == 1
    else:
        assert "synthetic_pretrain_history" not in aug.extra


def test_table2_augmentation_row_pretrains_with_ce_then_fine_tunes_with_the_run_loss(watch_cfg: DataConfig) -> None:
    """§3.1.3-3.1.4 as Table 2's "Data Augmentation" row runs it: USAD reading x ⊕ f (Eq. 16) is pretrained
    on class-balanced synthetic windows with cross-entropy (Eq. 17), then trained on the real windows
    with ACL (Eq. 18). ``pretrain_loss: run`` pretrains with ACL itself (the earlier behaviour)."""
    data = watch_cfg.model_copy(update={"imbalance": ImbalanceConfig(ratio=5)}).model_dump()
    row = {"data": data, "model": {"name": "usad", "widths": [16, 16], "input_features": "raw+stats"},
           "loss": {"name": "acl"}, "train": {"epochs": 1, "num_threads": 1},
           "augment": {"mode": "pretrain", "ratio": 0.5, "counts": "uniform", "generator": TINY}}
    r = train(RunConfig.model_validate(row))
    assert r.model.model.stem[0].in_channels == 5 * r.data.num_channels  # Eq. 16 in the training path
    per_class = list(r.extra["augment"]["per_class"].values())
    assert max(per_class) - min(per_class) <= 1  # Eq. 13: uniform over the classes
    (pre,) = r.extra["synthetic_pretrain_history"]
    assert not any(k.startswith("train_loss_") for k in pre)  # CE: one term, no composite parts
    assert {"train_loss_ce", "train_loss_focal", "train_loss_label_smoothing"} <= set(r.history[0])  # ACL
    earlier = train(RunConfig.model_validate({**row, "model": {"name": "cnn", "channels": [16, 16]},
                                              "augment": {**row["augment"], "pretrain_loss": "run"}}))
    assert {"train_loss_ce", "train_loss_focal"} <= set(earlier.extra["synthetic_pretrain_history"][0])
