"""The dataset registry: each dataset is a typed config whose ``load()`` returns ``Recordings``.

A spec names a dataset by ``name``; its other keys are the config's fields. Adding a dataset means
writing one config class with ``name: Literal[...]`` and decorating it with ``@register_dataset``.
"""

from __future__ import annotations

import importlib.metadata
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hartune.data.base import DataError, Recordings, per_recording_labels
from hartune.registry import Registry


@dataclass(frozen=True)
class Origin:
    """Where a dataset's files are expected and where they would come from, known without reading
    them: the plan of a dry run names it, a trial's MLflow dataset input records it."""

    files: tuple[Path, ...]  # the files the loader reads
    present: tuple[bool, ...]  # whether each is there now
    source: str  # where they come from: the release's URL, or the file itself
    root: Path | None = None  # the data root (native releases)
    subjects: tuple[int, ...] | None = None  # the subject ids the dataset holds, if known without it
    missing_hint: str = "nothing to download: provide the file"  # what gets a missing file

    @property
    def complete(self) -> bool:
        return all(self.present)

    def describe(self, shown: int = 3) -> str:
        """``3 files under ROOT (a, b, c): 0 here; downloaded from URL on the first run``."""
        names = [
            str(p.relative_to(self.root)) if self.root and p.is_relative_to(self.root) else str(p)
            for p in self.files
        ]
        listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
        where = f" under {self.root}" if self.root else ""
        count = f"{len(names)} file{'s' if len(names) != 1 else ''}{where} ({listed})"
        if self.complete:
            return f"{count}: all here"
        return f"{count}: {sum(self.present)} here; {self.missing_hint}"


class DatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str

    def load(self) -> Recordings:
        raise NotImplementedError

    def origin(self) -> Origin:
        """The files this dataset reads and their source; reads none of them."""
        raise NotImplementedError


DATASETS: Registry[type[DatasetConfig]] = Registry("dataset")


register_dataset = DATASETS.register_config("name")


@lru_cache(maxsize=8)
def _load_cached(cfg: DatasetConfig, data_root: str | None) -> Recordings:
    return cfg.load()


def load_recordings(cfg: DatasetConfig) -> Recordings:
    """Load once per process (configs are frozen, hence hashable); a config without its own ``root``
    reads ``HARTUNE_DATA``, so that is part of the key."""
    return _load_cached(cfg, os.environ.get("HARTUNE_DATA"))


@register_dataset
class WatchDataset(DatasetConfig):
    """Smartwatch IMU exercises shipped inside the seglearn wheel (Burns et al. 2018).

    140 recordings of 10 subjects, 7 shoulder-rehabilitation exercise classes, 6 channels (acc xyz,
    gyro xyz) at 50 Hz, one label per recording. Only the data file is used: its path comes from the
    installed distribution's metadata, so seglearn's code is never imported.
    """

    name: Literal["watch"] = "watch"
    path: Path | None = Field(None, description="override the file; default: the seglearn wheel's")

    def file(self) -> Path:
        if self.path is not None:
            return self.path
        try:
            dist = importlib.metadata.distribution("seglearn")
        except importlib.metadata.PackageNotFoundError:
            raise DataError(
                "dataset 'watch' needs the seglearn wheel for its data file: pip install seglearn"
            ) from None
        return Path(str(dist.locate_file("seglearn/data/watch_dataset.npy")))

    def origin(self) -> Origin:
        hint = "pip install seglearn (the file ships in its wheel)"
        try:
            path = self.file()
        except DataError:
            return Origin((Path("seglearn/data/watch_dataset.npy"),), (False,), "seglearn", missing_hint=hint)
        return Origin(
            (path,),
            (path.is_file(),),
            str(path),
            subjects=tuple(range(1, 11)),
            missing_hint="provide the file" if self.path else hint,
        )

    def load(self) -> Recordings:
        path = self.file()
        try:
            d = np.load(path, allow_pickle=True).item()  # a pickled dict, as seglearn ships it
            signals = tuple(np.asarray(x, dtype=np.float32) for x in d["X"])
            y, subjects = np.asarray(d["y"]), np.asarray(d["subject"])
            channels, classes = tuple(d["X_labels"]), tuple(d["y_labels"])
        except (OSError, ValueError, KeyError, AttributeError, EOFError) as e:
            raise DataError(f"{path}: not a readable watch dataset file ({e})") from None
        return Recordings(
            name="watch",
            signals=signals,
            labels=per_recording_labels(y, [len(x) for x in signals]),
            subjects=subjects.astype(np.int64),
            channel_names=channels,
            class_names=classes,
            sampling_rate_hz=50.0,
        )


@register_dataset
class ArraysDataset(DatasetConfig):
    """A user's own data in one ``.npz`` (no pickles), in either of two layouts.

    * windows: ``X`` (N, T, C), ``y`` (N,), ``subject`` (N,); each window becomes a recording.
    * recordings: ``signals`` (sum T_i, C) concatenated, ``lengths`` (R,), ``subject`` (R,), and ``y``
      either (R,) per recording or (sum T_i,) per sample.

    Optional: ``channel_names`` (C,), ``class_names`` (K,), ``sampling_rate_hz`` (scalar). String
    labels are mapped to sorted class names.
    """

    name: Literal["arrays"] = "arrays"
    path: Path

    def origin(self) -> Origin:
        return Origin((self.path,), (self.path.is_file(),), str(self.path))

    def load(self) -> Recordings:
        try:
            with np.load(self.path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise DataError(f"{self.path}: not a readable .npz file ({e})") from None
        return _arrays_to_recordings(d, str(self.path))


MAX_CLASSES = 10_000  # a larger label code is a corrupt file, not a class (names are made for each code)


def _arrays_to_recordings(d: dict[str, np.ndarray], where: str) -> Recordings:
    def need(*keys: str) -> None:
        for k in keys:
            if k not in d:
                raise DataError(f"{where}: missing array {k!r}; present: {', '.join(sorted(d))}")

    if "X" in d:
        need("X", "y", "subject")
        x = d["X"]
        if x.ndim != 3:
            raise DataError(f"{where}: X has shape {x.shape}; expected (N, T, C)")
        signals = tuple(x.astype(np.float32))
        lengths = [x.shape[1]] * len(x)
    else:
        need("signals", "lengths", "y", "subject")
        lengths = [int(n) for n in d["lengths"]]
        if sum(lengths) != len(d["signals"]):
            raise DataError(
                f"{where}: lengths sum to {sum(lengths)} but signals has {len(d['signals'])} rows"
            )
        signals = tuple(np.split(d["signals"].astype(np.float32), np.cumsum(lengths)[:-1]))
    y = d["y"]
    if y.ndim != 1:
        raise DataError(
            f"{where}: y has shape {y.shape}; expected (N,) labels, one per recording or per sample"
        )
    if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
        raise DataError(
            f"{where}: y holds non-integer labels such as {y[y != np.round(y)][0]}; expected class codes"
        )
    if y.dtype.kind in "iuf" and y.size and not 0 <= y.max() < MAX_CLASSES:
        raise DataError(f"{where}: y holds the label {y.max()}; accepted: class codes 0..{MAX_CLASSES - 1}")
    if y.dtype.kind in "US":
        class_names = tuple(str(c) for c in np.unique(y))
        y = np.searchsorted(np.array(class_names), y)
    else:
        k = int(y.max()) + 1 if y.size else 0
        class_names = tuple(str(c) for c in d.get("class_names", [str(i) for i in range(k)]))
    if len(y) == len(lengths):
        labels = per_recording_labels(y, lengths)
    elif len(y) == sum(lengths):
        labels = tuple(np.split(y.astype(np.int64), np.cumsum(lengths)[:-1]))
    else:
        raise DataError(
            f"{where}: y has {len(y)} entries; expected one per recording ({len(lengths)}) "
            f"or one per sample ({sum(lengths)})"
        )
    c = signals[0].shape[1] if signals and signals[0].ndim == 2 else 0
    channels = tuple(str(n) for n in d.get("channel_names", [f"ch{i}" for i in range(c)]))
    return Recordings(
        name=where,
        signals=signals,
        labels=labels,
        subjects=np.asarray(d["subject"]).astype(np.int64),
        channel_names=channels,
        class_names=class_names,
        sampling_rate_hz=float(d.get("sampling_rate_hz", 0.0)),
    )
