"""The generator cache: content keys, and two real processes asking at once train exactly once."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hartune.augment import DiffusionGenerator, GeneratorCache, GeneratorConfig, cache_key
from hartune.augment.cache import MARKER
from hartune.data import PreparedData
from hartune.integrity import CorruptFile


def _train_fn(cfg: GeneratorConfig, data: PreparedData, log: Path) -> Callable[[], DiffusionGenerator]:
    """A real tiny training on 64 watch windows that appends its pid to ``log`` when it starts."""

    def train() -> DiffusionGenerator:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        gen = DiffusionGenerator(cfg, data.num_channels, data.num_classes, data.window)
        gen.fit(data.train.x[:64], data.train.y[:64])
        return gen

    return train


def _worker(root: str, cfg_json: str, log: str, barrier: mp.synchronize.Barrier, out: mp.Queue) -> None:
    """One 'trial' in its own spawned process: prepare the real data, then ask the cache at once."""
    import torch

    from hartune.data import DataConfig, WindowConfig, prepare

    torch.set_num_threads(1)
    data = prepare(DataConfig(window=WindowConfig(length=100, stride=100)))
    cfg = GeneratorConfig.model_validate_json(cfg_json)
    barrier.wait(timeout=120)
    got = GeneratorCache(root).get_or_train(data.fingerprint, cfg, _train_fn(cfg, data, Path(log)))
    x, _ = got.generator.sample({k: 2 for k in got.generator.fitted_classes}, seed=0)
    out.put((os.getpid(), got.trained, got.key, hashlib.sha256(x.tobytes()).hexdigest()))


def test_two_concurrent_processes_train_one_generator(
    tmp_path: Path, tiny: Callable[..., GeneratorConfig]
) -> None:
    ctx = mp.get_context("spawn")
    cfg = tiny(epochs=3)
    log = tmp_path / "trainings.log"
    barrier, out = ctx.Barrier(2), ctx.Queue()
    args = (str(tmp_path / "gens"), cfg.model_dump_json(), str(log), barrier, out)
    procs = [ctx.Process(target=_worker, args=args) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    trainers = log.read_text().split()
    assert len(trainers) == 1  # exactly one training, in one of the two processes
    assert [p.exitcode for p in procs] == [0, 0]
    results = [out.get(timeout=10) for _ in procs]
    by_pid = {pid: (trained, key, digest) for pid, trained, key, digest in results}
    assert sorted(by_pid) == sorted(p.pid for p in procs)
    assert [by_pid[pid][0] for pid in sorted(by_pid)].count(True) == 1 and by_pid[int(trainers[0])][0]
    assert len({v[1] for v in by_pid.values()}) == 1  # same key
    assert len({v[2] for v in by_pid.values()}) == 1  # same generator: identical samples
    marker = GeneratorCache(tmp_path / "gens").marker(results[0][2])
    assert marker["pid"] == int(trainers[0])


def test_second_request_loads_and_keys_follow_the_content(
    tmp_path: Path, watch: PreparedData, tiny: Callable[..., GeneratorConfig]
) -> None:
    cache, log = GeneratorCache(tmp_path), tmp_path / "trainings.log"
    cfg = tiny(epochs=1)
    first = cache.get_or_train(watch.fingerprint, cfg, _train_fn(cfg, watch, log))
    again = cache.get_or_train(watch.fingerprint, cfg, _train_fn(cfg, watch, log))
    assert first.trained and not again.trained and len(log.read_text().split()) == 1
    assert sorted(p.name for p in first.path.iterdir()) == sorted(
        ["generator.json", "generator.json.sha256", "state.pt", "state.pt.sha256", MARKER]
    )
    assert not list(tmp_path.glob(".*.tmp-*"))
    a, _ = first.generator.sample({2: 2})
    b, _ = again.generator.sample({2: 2})
    assert np.array_equal(a, b)
    # the key is the content: other data or other training knobs, another key; sampling knobs, the same one
    assert cache_key("other", cfg) != first.key
    assert cache_key(watch.fingerprint, tiny(epochs=2)) != first.key
    assert cache_key(watch.fingerprint, tiny(epochs=1, sampling={"sampler": "ddpm"})) == first.key


def test_train_fn_with_another_config_is_refused(
    tmp_path: Path, watch: PreparedData, tiny: Callable[..., GeneratorConfig]
) -> None:
    cache = GeneratorCache(tmp_path)
    with pytest.raises(ValueError, match="different config"):
        cache.get_or_train(
            watch.fingerprint, tiny(epochs=2), _train_fn(tiny(epochs=1), watch, tmp_path / "log")
        )
    assert not cache.contains(cache_key(watch.fingerprint, tiny(epochs=2)))


@pytest.mark.faults
@pytest.mark.parametrize("victim", ["state.pt", "generator.json"])
def test_truncated_cached_generator_is_retrained_once_with_one_warning(
    tmp_path: Path,
    watch: PreparedData,
    tiny: Callable[..., GeneratorConfig],
    victim: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 21 point 5: a cached generator truncated on disk is caught by its checksum, retrained
    exactly once (one warning line naming it), and the rebuilt entry samples like a fresh one."""
    cache, log = GeneratorCache(tmp_path), tmp_path / "trainings.log"
    cfg = tiny(epochs=1)
    first = cache.get_or_train(watch.fingerprint, cfg, _train_fn(cfg, watch, log))
    file = first.path / victim
    size = file.stat().st_size
    with open(file, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(CorruptFile, match="truncated"):
        DiffusionGenerator.load(first.path)
    with caplog.at_level(logging.WARNING, logger="hartune.augment.cache"):
        again = cache.get_or_train(watch.fingerprint, cfg, _train_fn(cfg, watch, log))
    assert again.trained and len(log.read_text().split()) == 2  # retrained once
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and str(first.path) in warned[0] and "truncated" in warned[0]
    assert "\n" not in warned[0]
    assert (first.path / victim).stat().st_size == size  # rebuilt whole
    third = cache.get_or_train(watch.fingerprint, cfg, _train_fn(cfg, watch, log))
    assert not third.trained and len(log.read_text().split()) == 2  # and trusted again
    a, _ = again.generator.sample({2: 2}, seed=0)
    b, _ = third.generator.sample({2: 2}, seed=0)
    assert np.array_equal(a, b)
