"""``train_fraction`` (Table 3's "50%" column) on the shipped watch data: each (subject, class) cell of
the training split keeps its share within rounding, the draw is fixed by its seed and moves with it,
validation and test are the same windows as without it, and the data fingerprint tells them apart."""

from __future__ import annotations

import numpy as np
import pytest

from hartune.data import DataConfig, prepare
from hartune.data.fraction import TrainFractionConfig, cell_quota, keep_fraction
from hartune.registry import ConfigError, validate_config

BASE = {
    "dataset": {"name": "watch"},
    "window": {"length": 100, "stride": 50},
    "split": {"kind": "holdout", "test_subjects": [1, 2], "val_subjects": [3]},
}


def data(**fraction: object):
    return prepare(DataConfig.model_validate({**BASE, **fraction}))


def cells(subject: np.ndarray, y: np.ndarray) -> dict[tuple[int, int], int]:
    keys, counts = np.unique(np.stack([subject, y], 1), axis=0, return_counts=True)
    return {(int(s), int(c)): int(n) for (s, c), n in zip(keys, counts)}


@pytest.fixture(scope="module")
def whole():
    return data()


@pytest.mark.parametrize("fraction", [0.5, 0.3])
def test_each_subject_and_class_keeps_its_share(whole, fraction: float) -> None:
    half = data(train_fraction=fraction)
    full, kept = cells(whole.train.subject, whole.train.y), cells(half.train.subject, half.train.y)
    assert set(kept) == set(full)  # no subject, no class, no (subject, class) cell vanishes
    for key, n in full.items():
        assert kept[key] == cell_quota(n, fraction) and abs(kept[key] - n * fraction) <= 1  # within rounding
    for axis in (0, 1):  # the class and the subject proportions of the training split
        before = np.bincount(np.array([k[axis] for k, n in full.items() for _ in range(n)])) / sum(
            full.values()
        )
        after = np.bincount(np.array([k[axis] for k, n in kept.items() for _ in range(n)])) / sum(
            kept.values()
        )
        np.testing.assert_allclose(after, before, atol=1.5 / sum(kept.values()) * len(full))
    assert half.info["train_fraction"]["kept"] == len(half.train.y) < len(whole.train.y)


def test_validation_and_test_untouched_and_fingerprint_differs(whole) -> None:
    half = data(train_fraction=0.5)
    for part in ("val", "test"):
        np.testing.assert_array_equal(getattr(half, part).y, getattr(whole, part).y)
        np.testing.assert_array_equal(getattr(half, part).subject, getattr(whole, part).subject)
        # z-scored with the half's own training statistics: the raw windows are the same
        raw_half = getattr(half, part).x * half.std + half.mean
        raw_whole = getattr(whole, part).x * whole.std + whole.mean
        np.testing.assert_allclose(raw_half, raw_whole, rtol=1e-4, atol=1e-4)
    assert half.fingerprint != whole.fingerprint


def test_deterministic_for_a_seed_different_for_another(whole) -> None:
    a, b = (
        data(train_fraction={"fraction": 0.5, "seed": 0}),
        data(train_fraction={"fraction": 0.5, "seed": 0}),
    )
    c = data(train_fraction={"fraction": 0.5, "seed": 1})
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert a.fingerprint == b.fingerprint
    assert c.fingerprint != a.fingerprint and not np.array_equal(c.train.x, a.train.x)
    assert cells(c.train.subject, c.train.y) == cells(
        a.train.subject, a.train.y
    )  # same quotas, other windows


def test_pick_first_takes_the_earliest_windows_of_each_cell() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 0, 0])
    subject = np.array([1, 1, 1, 1, 1, 1, 2, 2])
    keep = keep_fraction(y, subject, TrainFractionConfig(fraction=0.5, pick="first"))
    assert keep.tolist() == [0, 1, 4, 6]
    assert keep_fraction(y, subject, TrainFractionConfig(fraction=1.0)).tolist() == list(range(8))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "train_fraction.fraction=0: Input should be greater than 0"),
        (-0.5, "train_fraction.fraction=-0.5: Input should be greater than 0"),
        (1.5, "train_fraction.fraction=1.5: Input should be less than or equal to 1"),
        ({"fraction": 0.5, "pick": "last"}, "train_fraction.pick='last'"),
    ],
)
def test_bad_fractions_are_one_line(value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        validate_config(DataConfig, {**BASE, "train_fraction": value})
    assert expected in str(e.value) and "\n" not in str(e.value)
