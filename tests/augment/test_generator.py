"""The generator on real smartwatch windows: it learns, samples what is asked, and reloads exactly."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from hartune.augment import (
    DiffusionGenerator,
    GeneratorConfig,
    SamplingConfig,
    balanced_counts,
    generator_config,
)
from hartune.augment.features import global_features
from hartune.data import PreparedData
from hartune.registry import ConfigError


def test_tiny_generator_on_one_class_drives_its_loss_down(
    watch: PreparedData, tiny: Callable[..., GeneratorConfig]
) -> None:
    """Class 0 (PEN, 181 windows of 100 x 6), 10 epochs: the last epoch's mean loss < half the first's."""
    mask = watch.train.y == 0
    gen = DiffusionGenerator(tiny(epochs=10, seed=3), watch.num_channels, watch.num_classes, watch.window)
    start = time.perf_counter()
    history = gen.fit(watch.train.x[mask], watch.train.y[mask])
    seconds = time.perf_counter() - start
    print(
        f"fit: {mask.sum()} windows, 10 epochs, {seconds:.2f} s; loss {history[0]:.3f} -> {history[-1]:.3f}"
    )
    assert len(history) == 10 and all(np.isfinite(history))
    assert history[-1] < 0.5 * history[0]
    assert gen.fitted_classes == [0]


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_sample_returns_requested_counts(three_class_generator: DiffusionGenerator, sampler: str) -> None:
    gen = three_class_generator
    s = SamplingConfig(sampler=sampler, ddim_steps=10)  # type: ignore[arg-type]
    x, y = gen.sample({0: 3, 2: 0, 5: 2}, sampling=s)
    assert x.shape == (5, 100, 6) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.tolist() == [0, 0, 0, 5, 5]
    assert np.isfinite(x).all()


def test_sample_takes_a_per_class_list_and_matches_the_bank_statistics(
    three_class_generator: DiffusionGenerator, watch: PreparedData
) -> None:
    """x = mu + sigma * z: each sample's per-channel mean and std are those of a real window of its class."""
    x, y = three_class_generator.sample([2, 0, 1, 0, 0, 3])
    assert y.tolist() == [0, 0, 2, 5, 5, 5]
    g = global_features(x)  # (N, C, 3)
    for i, k in enumerate(y):
        real = global_features(watch.train.x[watch.train.y == k])[:40, :, :2]  # the windows it was fitted on
        assert np.abs(real - g[i, :, :2]).max(axis=(1, 2)).min() < 1e-4


def test_prototype_feature_source_gives_prototype_means(three_class_generator: DiffusionGenerator) -> None:
    x, _ = three_class_generator.sample(
        {2: 2}, sampling=SamplingConfig(feature_source="prototype", ddim_steps=5)
    )
    proto = three_class_generator.buffers["proto_stats"][2, :, 0].numpy()
    np.testing.assert_allclose(global_features(x)[:, :, 0], np.broadcast_to(proto, (2, 6)), atol=1e-4)


def test_sampling_is_deterministic_under_its_seed(three_class_generator: DiffusionGenerator) -> None:
    a, _ = three_class_generator.sample({0: 2}, seed=7)
    b, _ = three_class_generator.sample({0: 2}, seed=7)
    c, _ = three_class_generator.sample({0: 2}, seed=8)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_sampling_an_unfitted_class_is_one_line(three_class_generator: DiffusionGenerator) -> None:
    with pytest.raises(
        ValueError, match=r"^sample: classes \[1\] had no training windows; fitted: \[0, 2, 5\]$"
    ):
        three_class_generator.sample({1: 2})
    with pytest.raises(ValueError, match=r"class 9 -> 2; classes are 0..6"):
        three_class_generator.sample({9: 2})


def test_save_load_round_trip_gives_identical_samples(
    three_class_generator: DiffusionGenerator, tmp_path: Path
) -> None:
    three_class_generator.save(tmp_path / "g")
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        "generator.json",
        "generator.json.sha256",
        "state.pt",
        "state.pt.sha256",
    ]
    loaded = DiffusionGenerator.load(tmp_path / "g")
    assert loaded.cfg == three_class_generator.cfg and loaded.fitted_classes == [0, 2, 5]
    for sampler in ("ddpm", "ddim"):
        s = SamplingConfig(sampler=sampler, ddim_steps=10)  # type: ignore[arg-type]
        a, ya = three_class_generator.sample({0: 2, 5: 1}, sampling=s)
        b, yb = loaded.sample({0: 2, 5: 1}, sampling=s)
        assert np.array_equal(a, b) and np.array_equal(ya, yb)


def test_fit_is_deterministic_under_its_seed(
    watch: PreparedData, tiny: Callable[..., GeneratorConfig]
) -> None:
    x, y = watch.train.x[:48], watch.train.y[:48]
    runs = []
    for seed in (0, 0, 1):
        gen = DiffusionGenerator(
            tiny(epochs=1, seed=seed), watch.num_channels, watch.num_classes, watch.window
        )
        runs.append((gen.fit(x, y), gen.net.state_dict()))
    (h0, s0), (h1, s1), (h2, _) = runs
    assert h0 == h1 and all(torch.equal(s0[k], s1[k]) for k in s0)
    assert h0 != h2


def test_fit_rejects_wrong_shapes(watch: PreparedData, tiny: Callable[..., GeneratorConfig]) -> None:
    gen = DiffusionGenerator(tiny(epochs=1), 6, 7, 100)
    with pytest.raises(ValueError, match=r"expected \(N>0, 100, 6\)"):
        gen.fit(watch.train.x[:4, :50], watch.train.y[:4])
    with pytest.raises(ValueError, match=r"at least 16"):
        DiffusionGenerator(tiny(), 6, 7, 12)


def test_balanced_counts() -> None:
    y = np.array([0] * 5 + [1] * 2 + [3] * 4)  # class 2: no windows
    assert balanced_counts(y, 4) == {0: 0, 1: 3, 3: 1}
    assert balanced_counts(y, 4, target=6) == {0: 1, 1: 4, 3: 2}


def test_config_validation_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^generator: .*ddim_steps=80 exceeds timesteps=50"):
        generator_config(timesteps=50, sampling={"ddim_steps": 80})
    with pytest.raises(
        ConfigError, match=r"^generator\.weighting='paper': Input should be 'simple' or 'min_snr'"
    ):
        generator_config(weighting="paper")


def test_sampling_knobs_stay_out_of_the_training_json() -> None:
    a, b = generator_config(), generator_config(sampling={"sampler": "ddpm"})
    assert a.training_json() == b.training_json() and a != b
    assert generator_config(epochs=3).training_json() != a.training_json()
