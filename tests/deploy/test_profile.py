"""The deployment profiler on real small models: structure and internal consistency, never speed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from hartune.deploy import ProfileError, profile_model, realtime_budget_ms
from hartune.models import Normalized, count_parameters, create_model

KEYS = {
    "num_parameters", "size_on_disk_bytes", "peak_memory_bytes", "peak_activation_bytes",
    "latency_median_ms", "latency_p95_ms", "time_100_windows_ms", "threads", "realtime_budget_ms",
    "realtime_pass",
}


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return create_model("cnn", in_channels=6, num_classes=7, window=100)


@pytest.fixture(scope="module")
def report(cnn: nn.Module) -> dict[str, float]:
    return profile_model(cnn, window=100, channels=6, sampling_rate_hz=50.0)


def test_reports_every_figure_as_a_finite_float(report: dict[str, float]) -> None:
    assert set(report) == KEYS
    assert all(isinstance(v, float) and math.isfinite(v) for v in report.values())


def test_latency_figures_are_consistent(report: dict[str, float]) -> None:
    assert 0 < report["latency_median_ms"] <= report["latency_p95_ms"]
    assert report["time_100_windows_ms"] > 0


def test_parameters_size_and_memory(cnn: nn.Module, report: dict[str, float], tmp_path: Path) -> None:
    assert report["num_parameters"] == count_parameters(cnn)
    assert report["size_on_disk_bytes"] > 4 * report["num_parameters"]  # float32 weights + container
    path = tmp_path / "model.pt"
    torch.save(cnn.state_dict(), path)
    assert report["size_on_disk_bytes"] == path.stat().st_size
    weights = 4 * report["num_parameters"]
    assert report["peak_activation_bytes"] > 0
    assert report["peak_memory_bytes"] >= weights + report["peak_activation_bytes"]


def test_activation_peak_grows_with_the_window(cnn: nn.Module) -> None:
    """The measurement sees the forward pass: 8x longer windows need more activation memory."""
    short = profile_model(cnn, window=100, channels=6, sampling_rate_hz=50.0, runs=2, warmup=0)
    long = profile_model(cnn, window=800, channels=6, sampling_rate_hz=50.0, runs=2, warmup=0)
    assert long["peak_activation_bytes"] > 4 * short["peak_activation_bytes"]


def test_realtime_budget_is_five_percent_of_the_window(report: dict[str, float]) -> None:
    assert report["realtime_budget_ms"] == pytest.approx(0.05 * 100 / 50.0 * 1000)  # 100 ms
    assert realtime_budget_ms(171, 100.0) == pytest.approx(85.5)
    assert report["realtime_pass"] == float(report["latency_median_ms"] <= report["realtime_budget_ms"])


def test_an_impossible_budget_fails() -> None:
    """A 1-sample window at 1 MHz leaves 5e-5 ms, less than any forward pass takes."""
    model = create_model("cnn", in_channels=2, num_classes=3, window=16)
    r = profile_model(model, window=1, channels=2, sampling_rate_hz=1e6, runs=3, warmup=1)
    assert r["realtime_budget_ms"] == pytest.approx(5e-5)
    assert r["realtime_pass"] == 0.0


def test_threads_are_used_and_restored(cnn: nn.Module) -> None:
    before = torch.get_num_threads()
    seen: list[int] = []
    hook = cnn.register_forward_hook(lambda m, i, o: seen.append(torch.get_num_threads()))
    try:
        r = profile_model(cnn, window=50, channels=6, sampling_rate_hz=50.0, threads=2, runs=3, warmup=0)
    finally:
        hook.remove()
    assert r["threads"] == 2.0 and set(seen) == {2}
    assert torch.get_num_threads() == before


def test_runs_in_eval_mode_and_restores_the_mode(cnn: nn.Module) -> None:
    modes: list[bool] = []
    hook = cnn.register_forward_hook(lambda m, i, o: modes.append(m.training))
    cnn.train()
    try:
        profile_model(cnn, window=50, channels=6, sampling_rate_hz=50.0, runs=4, warmup=2)
    finally:
        hook.remove()
    assert modes and not any(modes)
    assert cnn.training
    cnn.eval()


def test_timed_passes_are_counted(cnn: nn.Module) -> None:
    """warmup + runs batch-1 passes, one profiled pass, and 1 + 5 passes on the batch of 100."""
    batches: list[int] = []
    hook = cnn.register_forward_hook(lambda m, i, o: batches.append(i[0].shape[0]))
    try:
        profile_model(cnn, window=50, channels=6, sampling_rate_hz=50.0, runs=7, warmup=3)
    finally:
        hook.remove()
    assert batches.count(1) == 1 + 3 + 7
    assert batches.count(100) == 6


def test_profiles_a_normalized_wrapper_and_counts_frozen_parameters() -> None:
    model = create_model("dae_cnn", in_channels=3, num_classes=4, window=40)
    for p in model.encoder.parameters():  # as after FC-only fine-tuning
        p.requires_grad_(False)
    wrapped = Normalized(model, torch.zeros(3), torch.ones(3))
    r = profile_model(wrapped, window=40, channels=3, sampling_rate_hz=20.0, runs=3, warmup=1)
    assert r["num_parameters"] == sum(p.numel() for p in model.parameters()) > count_parameters(model)


@pytest.mark.parametrize(
    "kwargs, key",
    [({"window": 0}, "window"), ({"channels": 0}, "channels"), ({"sampling_rate_hz": 0.0}, "sampling_rate_hz"),
     ({"threads": 0}, "threads"), ({"runs": 0}, "runs"), ({"warmup": -1}, "warmup")],
)
def test_bad_arguments_are_named(cnn: nn.Module, kwargs: dict, key: str) -> None:
    args = {"window": 50, "channels": 6, "sampling_rate_hz": 50.0, **kwargs}
    with pytest.raises(ProfileError, match=key):
        profile_model(cnn, **args)
