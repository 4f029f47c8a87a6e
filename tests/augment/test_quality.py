"""The quality report on real windows standing in for synthetic ones: identical, perturbed, label-shuffled."""

from __future__ import annotations

import io

import numpy as np
import pytest

from hartune.augment import quality_report, real_vs_synthetic_figure, tstr
from hartune.data import PreparedData


def _real(watch: PreparedData) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    return (watch.train.x, watch.train.y), (watch.test.x, watch.test.y)


def test_identical_synthetic_set_scores_like_real(watch: PreparedData) -> None:
    train, test = _real(watch)
    r = quality_report(train, train, test, watch.class_names)
    chance = np.bincount(test[1]).max() / len(test[1])
    assert r["trtr_accuracy"] > chance + 0.2  # the summary-statistics classifier does learn the classes
    assert r["tstr_accuracy"] == r["trtr_accuracy"]
    assert set(r["per_class"]) == set(watch.class_names)  # type: ignore[arg-type]
    for row in r["per_class"].values():  # type: ignore[union-attr]
        assert row["prototype_rms"] == 0.0 and row["wasserstein"] == 0.0


def test_distances_grow_with_distortion_and_shuffled_labels_fall_to_chance(watch: PreparedData) -> None:
    train, test = _real(watch)
    rng = np.random.default_rng(0)
    noisy = [
        (train[0] + s * rng.normal(size=train[0].shape).astype(np.float32), train[1]) for s in (0.3, 1.0)
    ]
    r_small, r_big = (quality_report(n, train, test, watch.class_names) for n in noisy)
    assert 0 < r_small["mean_wasserstein"] < r_big["mean_wasserstein"]  # type: ignore[operator]
    shuffled = (train[0], rng.permutation(train[1]))
    r_shuf = tstr(shuffled, train, test)
    assert r_shuf["tstr_accuracy"] < r_shuf["trtr_accuracy"] - 0.2  # type: ignore[operator]


def test_tstr_restricts_to_the_synthesised_classes(watch: PreparedData) -> None:
    train, test = _real(watch)
    keep = np.isin(train[1], [1, 4])
    r = tstr((train[0][keep], train[1][keep]), train, test)
    assert r["classes"] == [1, 4] and r["n_test"] == int(np.isin(test[1], [1, 4]).sum())
    with pytest.raises(ValueError, match="cover 1 class"):
        tstr((train[0][train[1] == 1], train[1][train[1] == 1]), train, test)


def test_figure_has_a_real_and_a_synthetic_panel_per_class(watch: PreparedData) -> None:
    train, _ = _real(watch)
    syn = (train[0][train[1] != 3], train[1][train[1] != 3])  # class 3 not synthesised: no row
    fig = real_vs_synthetic_figure(train, syn, watch.class_names, watch.channel_names)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 2 * (watch.num_classes - 1)
    assert titles[:2] == [f"{watch.class_names[0]}: real", f"{watch.class_names[0]}: synthetic"]
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
