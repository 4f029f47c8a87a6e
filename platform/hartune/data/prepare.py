"""From a data config to train/val/test arrays: load -> window -> split -> imbalance -> z-score.

This is the only place that order is written down; the training recipe and every stage call it.

The prepared arrays are read-only (``writeable = False``), wherever they come from: here, or Ray's object
store, where the trials of a node share one copy (``hartune.tune.datastore``). So the CLI's ``hartune
train`` and a trial run the same code on the same kind of arrays, and a stray in-place write raises
instead of changing what another trial reads. Whoever changes them works on a copy: a subset
(``Part.take``, fancy indexing) is one already; anything else copies first (``np.array(a)``).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hartune.data.base import DataError
from hartune.data.datasets import DATASETS, load_recordings
from hartune.data.fraction import TrainFractionConfig, keep_fraction
from hartune.data.imbalance import ImbalanceConfig, subsample
from hartune.data.splits import SPLITS
from hartune.data.windows import WindowConfig, Windows, make_windows

# Discriminated unions built from the registries: `name` picks the dataset, `kind` the split, and an
# unknown one is rejected with the list of valid names.
AnyDataset = DATASETS.union("name")
AnySplit = SPLITS.union("kind")


class DataConfig(BaseModel):
    """Everything that decides which windows a model sees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: AnyDataset = Field(default_factory=lambda: DATASETS.get("watch")())  # type: ignore[valid-type]
    window: WindowConfig = WindowConfig()
    split: AnySplit = Field(default_factory=lambda: SPLITS.get("holdout")())  # type: ignore[valid-type]
    # Table 3's "50%" column: keep this share of the training windows, by subject and class
    # (``hartune.data.fraction``); applied before ``imbalance``. None (or 1) keeps them all.
    train_fraction: TrainFractionConfig | None = None
    imbalance: ImbalanceConfig | None = None
    normalize: Literal["zscore", "none"] = "zscore"

    @field_validator("train_fraction", mode="before")
    @classmethod
    def _fraction_shorthand(cls, v: object) -> object:
        """``train_fraction: 0.5`` is short for ``{fraction: 0.5}``."""
        return {"fraction": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v


@dataclass(frozen=True)
class Part:
    x: np.ndarray  # (N, T, C) float32, normalised
    y: np.ndarray  # (N,) int64
    subject: np.ndarray | None = None  # (N,) int64: whose window (per-subject test results)

    def take(self, idx: np.ndarray) -> Part:
        """The windows ``idx`` (a training fraction, a subsample): new, writable arrays, so a trial's own
        subset never aliases the shared ones."""
        return Part(self.x[idx], self.y[idx], None if self.subject is None else self.subject[idx])

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.x, self.y) if self.subject is None else (self.x, self.y, self.subject)


@dataclass(frozen=True)
class PreparedData:
    train: Part
    val: Part
    test: Part
    mean: np.ndarray  # (C,) fitted on the training split only
    std: np.ndarray  # (C,)
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    fingerprint: str  # sha256 of the windows, labels and split: what the model actually saw
    leaky_split: bool
    info: dict[str, object] = field(default_factory=dict)
    sampling_rate_hz: float = 0.0  # 0: unknown (a user's arrays without a rate)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Every array of the three splits and the normalisation, in a fixed order."""
        return (*self.train.arrays(), *self.val.arrays(), *self.test.arrays(), self.mean, self.std)

    def checksum(self) -> str:
        """CRC-32 of every array's bytes (about 0.7 GB/s on one core here): what a trial saw, to compare
        with what the store put (``hartune.tune.datastore``). The fingerprint hashes the windows before
        normalisation and names the data; this checks that nobody changed the arrays themselves."""
        crc = 0
        for a in self.arrays():
            if a.size:  # an empty split (a refit on every subject has no validation or test) adds nothing
                crc = zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"), crc)
        return f"{crc:08x}"

    @property
    def num_channels(self) -> int:
        return self.train.x.shape[2]

    @property
    def window(self) -> int:
        return self.train.x.shape[1]


def zscore_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over all windows and time steps of (N, T, C); std floored at 1e-8."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return flat.mean(0).astype(np.float32), np.maximum(flat.std(0), 1e-8).astype(np.float32)


def fingerprint(parts: dict[str, Windows]) -> str:
    h = hashlib.sha256()
    for name in ("train", "val", "test"):
        w = parts[name]
        h.update(name.encode())
        h.update(np.ascontiguousarray(w.x).tobytes())
        h.update(w.y.tobytes())
        h.update(w.subject.tobytes())
    return h.hexdigest()


def read_only(data: PreparedData) -> PreparedData:
    """``data`` with every array marked read-only, in place (the arrays are the ones given)."""
    for a in data.arrays():
        a.flags.writeable = False
    return data


def prepare(cfg: DataConfig) -> PreparedData:
    """Deterministic: the same config gives the same arrays and fingerprint; the arrays are read-only."""
    rec = load_recordings(cfg.dataset)
    windows = make_windows(rec, cfg.window)
    try:
        idx = cfg.split.assign(windows.subject, windows.y, session=windows.session)
    except DataError as e:  # e.g. a file with a single subject: say which data the split did not fit
        raise DataError(f"dataset {rec.name!r}: {e}") from None
    train_idx = idx.train
    fraction = {}
    if cfg.train_fraction is not None:
        keep = keep_fraction(windows.y[train_idx], windows.subject[train_idx], cfg.train_fraction)
        fraction = {
            "train_fraction": {**cfg.train_fraction.model_dump(), "kept": len(keep), "of": len(train_idx)}
        }
        train_idx = train_idx[keep]
    if cfg.imbalance is not None:
        train_idx = train_idx[subsample(windows.y[train_idx], cfg.imbalance, rec.class_names)]
    parts = {"train": windows.take(train_idx), "val": windows.take(idx.val), "test": windows.take(idx.test)}
    if cfg.normalize == "zscore":
        mean, std = zscore_stats(parts["train"].x)
    else:
        c = rec.num_channels
        mean, std = np.zeros(c, np.float32), np.ones(c, np.float32)

    def part(w: Windows) -> Part:
        return Part(((w.x - mean) / std).astype(np.float32), w.y, w.subject)

    counts = {k: np.bincount(w.y, minlength=rec.num_classes).tolist() for k, w in parts.items()}
    data = PreparedData(
        train=part(parts["train"]),
        val=part(parts["val"]),
        test=part(parts["test"]),
        mean=mean,
        std=std,
        class_names=rec.class_names,
        channel_names=rec.channel_names,
        fingerprint=fingerprint(parts),
        leaky_split=type(cfg.split).leaky,
        sampling_rate_hz=float(rec.sampling_rate_hz),
        info={
            **idx.info,
            **fraction,
            "class_counts": counts,
            "windows": {k: len(w) for k, w in parts.items()},
            "dataset": rec.info,  # the loader's own report: rows dropped and why, gaps filled, cache
        },
    )
    return read_only(data)
