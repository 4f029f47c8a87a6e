"""Issue 21 points 5 and 9: corrupt caches and fuzzed data files.

* Every native loader's ``.npz`` cache, truncated after a real load, is caught by its checksum and
  parsed again with one warning line; the rebuilt cache is trusted on the next load.
* Every native loader's fixture files (``native_fixtures.WRITERS``, so a new loader is covered without a
  new test) are truncated, line-shuffled and byte-flipped; an ``arrays`` ``.npz`` gets wrong shapes,
  NaN, inf, empty classes and a single subject. Each load (and ``prepare``, for the splits) either
  succeeds with valid recordings (a documented repair: rows dropped or filled, as the loader's docstring
  says, or a flipped digit that is still a number) or raises ``DataError`` with one line naming a file of
  the release; any other exception fails the test.
"""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from native_fixtures import KNOBS, WRITERS

from hartune.data import DATASETS, DataConfig, DataError, prepare
from hartune.data.base import Recordings
from hartune.data.native import CACHE_DIR, NativeDataset
from hartune.integrity import checksum_path

NATIVE = sorted(WRITERS)


def config(name: str, root: Path, **knobs: object) -> NativeDataset:
    return DATASETS.get(name)(root=root, **{**KNOBS.get(name, {}), **knobs})


# ------------------------------------------------------------------------------------ corrupt caches


@pytest.mark.faults
@pytest.mark.parametrize("name", NATIVE)
def test_truncated_native_cache_is_detected_and_rebuilt_with_one_warning(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    WRITERS[name](tmp_path)
    cfg = config(name, tmp_path)
    first = cfg.load()
    cached = Path(first.info["cache"]["path"])
    assert checksum_path(cached).is_file()  # written beside it at write time
    size = cached.stat().st_size
    with open(cached, "r+b") as fh:
        fh.truncate(size - 7)  # a cut copy: the zip's tail (its directory) is gone
    with caplog.at_level(logging.WARNING, logger="hartune.data.native"):
        again = cfg.load()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and str(cached) in warned[0] and "truncated" in warned[0]
    assert "\n" not in warned[0]
    assert again.info["cache"]["hit"] is False  # parsed again ...
    for a, b in zip(first.signals, again.signals, strict=True):  # ... to the same arrays
        np.testing.assert_array_equal(a, b)
    assert cached.stat().st_size == size  # the cache was rewritten whole
    assert cfg.load().info["cache"]["hit"] is True  # and is trusted again


@pytest.mark.faults
def test_altered_native_cache_of_the_same_size_is_detected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A flipped byte keeps the size and may keep the zip readable: only the digest sees it."""
    WRITERS["mhealth"](tmp_path)
    cfg = config("mhealth", tmp_path)
    cached = Path(cfg.load().info["cache"]["path"])
    raw = bytearray(cached.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    cached.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="hartune.data.native"):
        assert cfg.load().info["cache"]["hit"] is False
    assert any("differs" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------- fuzzed natives


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and CACHE_DIR not in p.parts)


def _truncate(path: Path, rng: random.Random) -> str:
    data = path.read_bytes()
    cut = rng.randrange(0, max(1, len(data)))
    path.write_bytes(data[:cut])
    return f"truncated to {cut} of {len(data)} bytes"


def _shuffle(path: Path, rng: random.Random) -> str:
    lines = path.read_bytes().split(b"\n")
    rng.shuffle(lines)
    path.write_bytes(b"\n".join(lines))
    return f"{len(lines)} lines shuffled"


def _flip(path: Path, rng: random.Random) -> str:
    data = bytearray(path.read_bytes())
    if not data:
        return "empty"
    spots = [rng.randrange(len(data)) for _ in range(rng.choice((1, 4, 32)))]
    for i in spots:
        data[i] = rng.randrange(256)
    path.write_bytes(bytes(data))
    return f"{len(spots)} bytes set at random"


MUTATIONS = {"truncate": _truncate, "shuffle": _shuffle, "flip": _flip}


def _check_outcome(load, root: Path, what: str) -> str:
    """'ok' (valid recordings) or 'error' (one-line DataError naming a file under ``root``)."""
    try:
        rec = load()
    except DataError as e:
        msg = str(e)
        assert "\n" not in msg, f"{what}: a multi-line error: {msg!r}"
        assert str(root) in msg, f"{what}: the error names no file of the release: {msg}"
        return "error"
    assert isinstance(rec, Recordings)
    assert all(np.isfinite(x).all() for x in rec.signals), f"{what}: non-finite values got through"
    return "ok"


def _fuzz_loader(name: str, mutation: str, tmp_path: Path, files: int | None, seeds: range) -> list[str]:
    """Mutate each of the fixture's files (the ``files`` largest, or all) once per seed, each time in a
    fresh copy of the clean release, and check every load."""
    clean = tmp_path / "clean"
    WRITERS[name](clean)
    victims = sorted(_files(clean), key=lambda p: -p.stat().st_size)[:files]
    outcomes = []
    for i, victim in enumerate(victims):
        for seed in seeds:
            root = tmp_path / f"{i}-{seed}"
            shutil.copytree(clean, root)
            path = root / victim.relative_to(clean)
            how = MUTATIONS[mutation](path, random.Random(f"{name}{victim.name}{seed}"))
            outcomes.append(_check_outcome(config(name, root, cache=False).load, root, f"{path} {how}"))
            shutil.rmtree(root)
    assert outcomes  # every fixture writes at least one file
    return outcomes


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("name", NATIVE)
def test_fuzzed_native_files_give_a_data_error_naming_the_file_or_a_valid_load(
    name: str, mutation: str, tmp_path: Path
) -> None:
    """The default run: the two largest files of each release, two seeds."""
    _fuzz_loader(name, mutation, tmp_path, files=2, seeds=range(2))


@pytest.mark.slow
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("name", NATIVE)
def test_fuzzed_native_files_every_file_three_seeds(name: str, mutation: str, tmp_path: Path) -> None:
    """Every file of every release, three seeds (opportunity and uci_har: minutes)."""
    _fuzz_loader(name, mutation, tmp_path, files=None, seeds=range(3))


# ------------------------------------------------------------------------------------ arrays .npz


def _arrays(path: Path, **over: object) -> Path:
    """The windows layout: 48 windows of (100, 3), 4 classes, 4 subjects; ``over`` replaces arrays."""
    rng = np.random.default_rng(0)
    y = np.tile(np.arange(4), 12)
    arrays = {
        "X": (rng.normal(size=(48, 100, 3)) + y[:, None, None]).astype(np.float32),
        "y": y,
        "subject": np.repeat(np.arange(1, 5), 12),
    }
    arrays.update(over)  # type: ignore[arg-type]
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def _nan_at(x: np.ndarray, value: float) -> np.ndarray:
    x = x.copy()
    x[3, 10, 1] = value
    return x


X0 = np.random.default_rng(0).normal(size=(48, 100, 3)).astype(np.float32)
ARRAYS_CASES: dict[str, dict[str, object]] = {
    "X 2-d": {"X": X0[:, :, 0]},
    "X 4-d": {"X": X0[:, :, :, None]},
    "y too short": {"y": np.arange(47) % 4},
    "y 2-d": {"y": np.zeros((48, 2), dtype=np.int64)},
    "subject too short": {"subject": np.arange(3)},
    "negative label": {"y": np.tile(np.arange(-1, 3), 12)},
    "float labels": {"y": np.tile(np.arange(4), 12) + 0.5},
    "NaN": {"X": _nan_at(X0, np.nan)},
    "inf": {"X": _nan_at(X0, np.inf)},
    "-inf": {"X": _nan_at(X0, -np.inf)},
    "no windows": {"X": X0[:0], "y": np.arange(0), "subject": np.arange(0)},
    "zero-length windows": {"X": X0[:, :0]},
    "no channels": {"X": X0[:, :, :0]},
    "empty class in class_names": {"class_names": np.array(["a", "b", "c", "d", "never"])},
    "class_names too short": {"class_names": np.array(["a", "b"])},
    "channel_names wrong count": {"channel_names": np.array(["x"])},
    "single subject": {"subject": np.ones(48, dtype=np.int64)},
    "missing y": {"y": None},
    "object array": {"subject": np.array([{"a": 1}] * 48, dtype=object)},
}


@pytest.mark.parametrize("case", sorted(ARRAYS_CASES))
def test_bad_arrays_npz_gives_a_data_error_naming_the_file(case: str, tmp_path: Path) -> None:
    """Through ``prepare`` (windows, a subject holdout), as a run would use it."""
    path = tmp_path / "mine.npz"
    try:
        _arrays(path, **ARRAYS_CASES[case])
    except ValueError:  # numpy cannot even save it (never reaches the loader)
        pytest.skip("numpy refuses to write this array")
    cfg = DataConfig.model_validate(
        {
            "dataset": {"name": "arrays", "path": str(path)},
            "window": {"length": 50, "stride": 50},
            "split": {"kind": "holdout", "test_subjects": [1], "val_subjects": [2]},
        }
    )
    try:
        data = prepare(cfg)
    except DataError as e:
        assert "\n" not in str(e) and str(path) in str(e), str(e)
        return
    # a documented repair: nothing non-finite, every label a known class
    assert np.isfinite(data.train.x).all() and data.train.y.max() < data.num_classes, case


@pytest.mark.parametrize("seed", range(12))
def test_byte_flipped_arrays_npz_gives_a_data_error_or_a_valid_load(seed: int, tmp_path: Path) -> None:
    path = _arrays(tmp_path / "mine.npz")
    rng = random.Random(seed)
    (_truncate if seed % 3 == 0 else _flip)(path, rng)
    _check_outcome(DATASETS.get("arrays")(path=path).load, tmp_path, f"{path} seed {seed}")
