"""Profile one classifier for deployment on CPU, as in the USAD paper's §4.4 and Table 5.

No tracking, no Ray: ``profile_model`` returns plain floats that the caller logs as metrics of the
run. Everything is measured in this process on the CPU; the only file is the temporary state dict
whose size is reported.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch._C._profiler import _ExtraFields_Allocation
from torch.profiler import ProfilerActivity, profile

REALTIME_FRACTION = 0.05  # USAD §4.4: a window must be predicted within 5% of its own duration
THROUGHPUT_WINDOWS = 100  # "the time for 100 windows"


class ProfileError(ValueError):
    """A bad argument to the profiler; the message names it and what is accepted."""


def realtime_budget_ms(window: int, sampling_rate_hz: float) -> float:
    """5% of the window's duration, in milliseconds: 0.05 * window / rate * 1000."""
    return REALTIME_FRACTION * window / sampling_rate_hz * 1000.0


def _tensor_bytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _size_on_disk(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict(), "model.pt")``, written to a temporary directory
    that is removed again (the zip archive's entry names depend on the file name)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        torch.save(model.state_dict(), path)
        return path.stat().st_size


def _peak_allocated_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Peak of the bytes allocated and not yet freed by the CPU allocator during one ``model(x)``.

    Walks the allocation events that ``torch.profiler`` (``profile_memory=True``) records for
    every tensor allocation and free, in time order; the running sum starts at 0 when the pass
    starts, so tensors that already exist (weights, the input) are not in it.
    """
    # Kineto (torch.profiler's backend) prints "USDT: ... profiler_start/stop" at its highest level on
    # every profile; 6 is above every level, read when it first starts, unless the caller chose one.
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x)
    events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if isinstance(node.extra_fields, _ExtraFields_Allocation) and node.extra_fields.device.type == "cpu":
            events.append((node.start_time_ns, node.extra_fields.alloc_size))
    running = np.cumsum([size for _, size in sorted(events)]) if events else np.zeros(1)
    return int(max(running.max(), 0))


def _latencies_ms(model: Callable[[Any], Any], x: Any, runs: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        model(x)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter_ns()
        model(x)
        times[i] = (time.perf_counter_ns() - start) / 1e6
    return times


def median_latency_ms(predict: Callable[[Any], Any], x: Any, runs: int = 30, warmup: int = 5) -> float:
    """Median wall time of ``predict(x)`` in milliseconds: the cheap per-trial latency that a
    multi-objective search minimises (``latency_ms``); ``profile_model`` is the full protocol."""
    return float(np.median(_latencies_ms(predict, x, runs, warmup)))


def cpu_latency_ms(model: nn.Module, window: int, channels: int) -> float:
    """``median_latency_ms`` of a torch classifier at batch 1 (one (1, T, C) zero window) on CPU, in
    eval mode and inference mode; measured on a CPU copy when ``model`` lives elsewhere, whose
    train/eval mode is left as it was."""
    cpu = copy.deepcopy(model).cpu().eval() if next(model.parameters()).device.type != "cpu" else model
    was_training = cpu.training
    cpu.eval()
    try:
        with torch.inference_mode():
            return median_latency_ms(cpu, torch.zeros(1, window, channels))
    finally:
        cpu.train(was_training)


def _validate(window: int, channels: int, sampling_rate_hz: float, threads: int, runs: int, warmup: int) -> None:
    checks = {
        "window": (window, window >= 1, ">= 1"),
        "channels": (channels, channels >= 1, ">= 1"),
        "sampling_rate_hz": (sampling_rate_hz, sampling_rate_hz > 0, "> 0"),
        "threads": (threads, threads >= 1, ">= 1"),
        "runs": (runs, runs >= 1, ">= 1 (the paper's protocol is >= 100)"),
        "warmup": (warmup, warmup >= 0, ">= 0"),
    }
    for key, (value, ok, accepted) in checks.items():
        if not ok:
            raise ProfileError(f"{key}={value!r}: must be {accepted}")


def profile_model(
    model: nn.Module,
    window: int,
    channels: int,
    sampling_rate_hz: float,
    threads: int = 1,
    runs: int = 100,
    warmup: int = 10,
) -> dict[str, float]:
    """Deployment figures of ``model`` (windows (B, window, channels) -> logits) on CPU, in eval mode.

    Returns, all as floats:
        num_parameters        every parameter, trainable or frozen (a fine-tuned model ships all)
        size_on_disk_bytes    bytes of ``torch.save(model.state_dict(), "model.pt")`` on disk
        peak_memory_bytes     parameter + buffer + input bytes, plus the peak of bytes the CPU
                              allocator holds during one batch-1 forward pass (torch.profiler
                              allocation events); excludes the Python interpreter and libraries
        peak_activation_bytes that forward-pass peak alone
        latency_median_ms, latency_p95_ms
                              wall time of one batch-1 forward pass, over ``runs`` passes after
                              ``warmup`` untimed ones, under ``torch.inference_mode``
        time_100_windows_ms   one forward pass on a single batch of 100 windows (median of 5,
                              after one warm-up pass)
        threads               the intra-op thread count used (``torch.set_num_threads``)
        realtime_budget_ms    0.05 * window / sampling_rate_hz * 1000 (USAD §4.4)
        realtime_pass         1.0 if latency_median_ms <= realtime_budget_ms, else 0.0

    The model must be on the CPU. Its train/eval mode and torch's thread count are restored.
    """
    _validate(window, channels, sampling_rate_hz, threads, runs, warmup)
    devices = {p.device.type for p in model.parameters()} | {b.device.type for b in model.buffers()}
    if devices - {"cpu"}:
        raise ProfileError(f"model is on {sorted(devices)}: profile_model measures CPU inference; move it to 'cpu'")
    gen = torch.Generator().manual_seed(0)
    x1 = torch.randn(1, window, channels, generator=gen)  # (1, T, C)
    x100 = torch.randn(THROUGHPUT_WINDOWS, window, channels, generator=gen)  # (100, T, C)
    resident = _tensor_bytes([*model.parameters(), *model.buffers()]) + _tensor_bytes([x1])

    was_training, prev_threads = model.training, torch.get_num_threads()
    model.eval()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            activation_peak = _peak_allocated_bytes(model, x1)
            latencies = _latencies_ms(model, x1, runs, warmup)
            batch_time = float(np.median(_latencies_ms(model, x100, runs=5, warmup=1)))
    finally:
        torch.set_num_threads(prev_threads)
        model.train(was_training)

    median, p95 = np.percentile(latencies, [50, 95])
    budget = realtime_budget_ms(window, sampling_rate_hz)
    return {
        "num_parameters": float(sum(p.numel() for p in model.parameters())),
        "size_on_disk_bytes": float(_size_on_disk(model)),
        "peak_memory_bytes": float(resident + activation_peak),
        "peak_activation_bytes": float(activation_peak),
        "latency_median_ms": float(median),
        "latency_p95_ms": float(p95),
        "time_100_windows_ms": batch_time,
        "threads": float(threads),
        "realtime_budget_ms": budget,
        "realtime_pass": float(median <= budget),
    }


def profile_estimator(
    estimator: Any, window: int, channels: int, sampling_rate_hz: float, num_parameters: int,
    runs: int = 100, warmup: int = 10,
) -> dict[str, float]:
    """``profile_model``'s figures for a scikit-learn estimator that takes (B, window, channels)
    windows (``predict_proba``): size on disk is its pickle (joblib) in a temporary file, peak memory
    the peak that ``tracemalloc`` sees during one batch-1 call (Python and NumPy allocations), threads
    1 (``n_jobs=1``), ``num_parameters`` as the caller counts it (a forest's node count)."""
    import pickle
    import tracemalloc

    _validate(window, channels, sampling_rate_hz, 1, runs, warmup)
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, window, channels)).astype(np.float32)
    x100 = rng.standard_normal((THROUGHPUT_WINDOWS, window, channels)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(estimator))
        size = path.stat().st_size
    estimator.predict_proba(x1)
    tracemalloc.start()
    try:
        estimator.predict_proba(x1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    latencies = _latencies_ms(estimator.predict_proba, x1, runs, warmup)
    batch_time = float(np.median(_latencies_ms(estimator.predict_proba, x100, runs=5, warmup=1)))
    median, p95 = np.percentile(latencies, [50, 95])
    budget = realtime_budget_ms(window, sampling_rate_hz)
    return {
        "num_parameters": float(num_parameters),
        "size_on_disk_bytes": float(size),
        "peak_memory_bytes": float(peak),
        "latency_median_ms": float(median),
        "latency_p95_ms": float(p95),
        "time_100_windows_ms": batch_time,
        "threads": 1.0,
        "realtime_budget_ms": budget,
        "realtime_pass": float(median <= budget),
    }
