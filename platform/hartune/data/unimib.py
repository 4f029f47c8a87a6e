"""UniMiB-SHAR (Micucci, Mobilio & Napoletano 2017): a phone's accelerometer, 30 subjects, 9 daily
activities and 8 kinds of fall, 50 Hz, from the MATLAB files ``UniMiB-SHAR/data/<subset>_*.mat``.

The release is MATLAB v5 ``.mat`` files, which ``scipy.io.loadmat`` reads. Like UCI-HAR it ships
windows, not recordings: ``<subset>_data`` is (N, 453), x, y and z of 151 samples (3 s around a peak)
side by side, in m/s²; ``<subset>_labels`` is (N, 3): class (1-based), subject, trial;
``<subset>_names`` is a (2, K) cell array whose second row names the classes. Each window is one
recording. ``subset``: ``acc`` (all 17 classes), ``adl`` (the 9 activities), ``fall`` (the 8 falls).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from hartune.data.base import DataError, Recordings
from hartune.data.datasets import register_dataset
from hartune.data.native import NativeDataset, as_finite_float32, one_line
from hartune.data.sources import Source

WINDOW = 151


def _read_mat(path: Path, key: str) -> np.ndarray:
    import scipy.io  # only when a UniMiB file is read: not on every import of the dataset registry

    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # noqa: BLE001 -- scipy raises OSError, IndexError, ValueError... on corrupt input
        raise DataError(
            f"{path}: not a readable MATLAB file ({type(e).__name__}: {one_line(str(e))})"
        ) from None
    if key not in mat:  # a corrupt header can turn bytes into variable names: shown printable and short
        present = one_line(", ".join(k for k in mat if not k.startswith("__"))) or "none"
        raise DataError(f"{path}: no variable {key!r}; present: {present}")
    return mat[key]


def _cell_text(cell: object) -> str:
    """A loadmat cell entry (an array wrapping one string) as str."""
    return str(np.asarray(cell).ravel()[0])


@register_dataset
class UniMiBSHARDataset(NativeDataset):
    """UniMiB-SHAR windows; each 151-sample window is a recording; 3 channels, subjects 1-30, 50 Hz."""

    name: Literal["unimib_shar"] = "unimib_shar"
    subset: Literal["acc", "adl", "fall"] = "acc"

    # The download link given on the dataset's page (a Dropbox share; dl=1 returns the file itself).
    SOURCE: ClassVar[Source] = Source("https://www.dropbox.com/s/x2fpfqj0bpf8ep6/UniMiB-SHAR.zip?dl=1")
    RELEASE_SUBJECTS: ClassVar[tuple[int, ...]] = tuple(range(1, 31))  # subjects 1-30

    def files(self) -> list[str]:
        return [f"UniMiB-SHAR/data/{self.subset}_{k}.mat" for k in ("data", "labels", "names")]

    def parse(self, files: dict[str, Path]) -> Recordings:
        data_path, labels_path, names_path = (files[f] for f in self.files())
        key = self.subset
        data = _read_mat(data_path, f"{key}_data")
        meta = _read_mat(labels_path, f"{key}_labels")
        names = _read_mat(names_path, f"{key}_names")
        if data.ndim != 2 or data.shape[1] != 3 * WINDOW:
            raise DataError(f"{data_path}: {key}_data has shape {data.shape}; expected (N, {3 * WINDOW})")
        if meta.ndim != 2 or meta.shape[1] < 2 or len(meta) != len(data):
            raise DataError(f"{labels_path}: {key}_labels has shape {meta.shape}; expected ({len(data)}, 3)")
        if names.ndim != 2 or names.shape[0] != 2:
            raise DataError(f"{names_path}: {key}_names has shape {names.shape}; expected (2, classes)")
        classes = tuple(_cell_text(c) for c in names[1])
        y = meta[:, 0].astype(np.int64) - 1
        if y.size and (y.min() < 0 or y.max() >= len(classes)):
            bad = int(y[(y < 0) | (y >= len(classes))][0]) + 1
            raise DataError(f"{labels_path}: class {bad}; accepted: 1..{len(classes)}")
        x = as_finite_float32(data, data_path, f"{key}_data")  # (N, 3 * 151)
        x = x.reshape(len(data), 3, WINDOW).transpose(0, 2, 1)  # (N, 151, 3)
        return Recordings(
            name=self.name,
            signals=tuple(x),
            labels=tuple(np.full(WINDOW, k, dtype=np.int64) for k in y),
            subjects=meta[:, 1].astype(np.int64),
            channel_names=("acc_x", "acc_y", "acc_z"),
            class_names=classes,
            sampling_rate_hz=50.0,
            info={"windows": len(x)},
        )
