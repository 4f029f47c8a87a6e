"""Subject splits never leak a subject; normalisation and imbalance touch only the training split."""

import numpy as np
import pytest

from hartune.data import SPLITS, DataConfig, DataError, load_recordings, make_windows, prepare, zscore_stats


def _windows(watch_cfg: DataConfig):
    return make_windows(load_recordings(watch_cfg.dataset), watch_cfg.window)


SUBJECT_SPLITS = [
    {"kind": "holdout"},
    {"kind": "holdout", "test_subjects": [1, 2], "val_subjects": [3]},
    *({"kind": "loso", "fold": f} for f in range(10)),
    *({"kind": "kfold", "k": 5, "fold": f} for f in range(5)),
]


@pytest.mark.parametrize("split", SUBJECT_SPLITS, ids=lambda s: "-".join(map(str, s.values())))
def test_no_subject_on_two_sides(watch_cfg: DataConfig, split: dict) -> None:
    w = _windows(watch_cfg)
    cfg = DataConfig.model_validate({**watch_cfg.model_dump(), "split": split})
    idx = cfg.split.assign(w.subject, w.y)
    sides = [set(w.subject[i].tolist()) for i in (idx.train, idx.val, idx.test)]
    assert all(sides), "every side has at least one subject"
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert len(idx.train) + len(idx.val) + len(idx.test) == len(w.y)  # nothing dropped
    assert not type(cfg.split).leaky


def test_loso_folds_cover_every_subject_once(watch_cfg: DataConfig) -> None:
    w = _windows(watch_cfg)
    split = SPLITS.get("loso")
    n = split().num_folds(w.subject)
    tested = [w.subject[split(fold=f).assign(w.subject, w.y).test][0] for f in range(n)]
    assert sorted(tested) == sorted(set(w.subject.tolist()))


def test_kfold_test_groups_partition_subjects(watch_cfg: DataConfig) -> None:
    w = _windows(watch_cfg)
    groups = [set(w.subject[SPLITS.get("kfold")(k=5, fold=f).assign(w.subject, w.y).test].tolist()) for f in range(5)]
    assert set().union(*groups) == set(w.subject.tolist()) and sum(map(len, groups)) == 10


def test_random_split_is_marked_leaky(watch_cfg: DataConfig) -> None:
    cfg = DataConfig.model_validate({**watch_cfg.model_dump(), "split": {"kind": "random"}})
    data = prepare(cfg)
    assert data.leaky_split is True
    assert prepare(watch_cfg).leaky_split is False


def test_bad_subjects_are_clear_errors(watch_cfg: DataConfig) -> None:
    w = _windows(watch_cfg)
    with pytest.raises(DataError, match=r"test subjects \[42\] do not exist"):
        SPLITS.get("holdout")(test_subjects=[42]).assign(w.subject, w.y)
    with pytest.raises(DataError, match="both test and val"):
        SPLITS.get("holdout")(test_subjects=[1], val_subjects=[1]).assign(w.subject, w.y)


def test_normalisation_is_fitted_on_training_windows_only(watch_cfg: DataConfig) -> None:
    data = prepare(watch_cfg)
    raw = prepare(DataConfig.model_validate({**watch_cfg.model_dump(), "normalize": "none"}))
    mean, std = zscore_stats(raw.train.x)
    np.testing.assert_allclose(data.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(data.std, std, rtol=1e-6)
    # the statistics of all windows differ, so this would catch fitting on everything
    everything = np.concatenate([raw.train.x, raw.val.x, raw.test.x])
    assert not np.allclose(zscore_stats(everything)[0], mean, rtol=1e-3)
    flat = data.train.x.reshape(-1, data.num_channels)
    np.testing.assert_allclose(flat.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(flat.std(0), 1, atol=1e-3)
    np.testing.assert_allclose(data.test.x, (raw.test.x - mean) / std, atol=1e-5)


@pytest.mark.parametrize("profile", ["geometric", "step"])
@pytest.mark.parametrize("ratio", [4.0, 10.0])
def test_imbalance_reaches_ratio_on_train_only(watch_cfg: DataConfig, profile: str, ratio: float) -> None:
    base = prepare(watch_cfg)
    cfg = DataConfig.model_validate({**watch_cfg.model_dump(), "imbalance": {"ratio": ratio, "profile": profile}})
    data = prepare(cfg)
    counts = np.bincount(data.train.y, minlength=data.num_classes)
    assert counts.max() / counts.min() == pytest.approx(ratio, rel=0.05)
    assert np.all(counts <= np.bincount(base.train.y, minlength=data.num_classes))
    if profile == "step":
        assert len(set(counts.tolist())) <= 3  # two levels, up to rounding
    # validation and test are untouched, window for window
    np.testing.assert_array_equal(data.val.y, base.val.y)
    np.testing.assert_array_equal(data.test.y, base.test.y)
    np.testing.assert_allclose(data.test.x * data.std + data.mean, base.test.x * base.std + base.mean, atol=1e-4)


def test_imbalance_named_minority_classes(watch_cfg: DataConfig) -> None:
    cfg = DataConfig.model_validate({**watch_cfg.model_dump(),
                                     "imbalance": {"ratio": 5, "profile": "step", "minority": ["ROW", "PEN"]}})
    data = prepare(cfg)
    counts = np.bincount(data.train.y, minlength=7)
    small = {data.class_names.index("ROW"), data.class_names.index("PEN")}
    assert {int(i) for i in np.flatnonzero(counts == counts.min())} == small
    assert counts.max() / counts.min() == pytest.approx(5, rel=0.05)


def test_same_config_same_fingerprint_and_different_split_differs(watch_cfg: DataConfig) -> None:
    a, b = prepare(watch_cfg), prepare(watch_cfg)
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    other = DataConfig.model_validate({**watch_cfg.model_dump(), "split": {"kind": "holdout", "seed": 1}})
    assert prepare(other).fingerprint != a.fingerprint
