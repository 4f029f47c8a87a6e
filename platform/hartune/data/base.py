"""What every dataset provides: variable-length recordings with per-sample labels and a subject each."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class DataError(ValueError):
    """Unusable data (a missing or corrupt file, inconsistent arrays): one line naming the file or key."""


@dataclass(frozen=True)
class Recordings:
    """A dataset as released: R recordings of shape (T_i, C) with a label per sample.

    Loaders whose labels are per recording broadcast them to every sample, so windowing has one path.
    ``sessions`` optionally names the session each recording comes from (OPPORTUNITY's "S2-ADL4",
    UCI-HAR's "train"/"test"), for protocols that split by recording rather than by subject. ``info``
    carries what the loader wants callers to log: rows dropped and why, gaps filled, the cache used.
    """

    name: str
    signals: tuple[np.ndarray, ...]  # R x (T_i, C) float32
    labels: tuple[np.ndarray, ...]  # R x (T_i,) int64, class index per sample
    subjects: np.ndarray  # (R,) int64 subject id per recording
    channel_names: tuple[str, ...]
    class_names: tuple[str, ...]
    sampling_rate_hz: float
    sessions: tuple[str, ...] = ()  # () or R names
    info: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        where = f"dataset {self.name!r}"
        if not self.signals:
            raise DataError(f"{where}: no recordings")
        if not (len(self.signals) == len(self.labels) == len(self.subjects)):
            raise DataError(
                f"{where}: {len(self.signals)} recordings but {len(self.labels)} label arrays "
                f"and {len(self.subjects)} subject ids"
            )
        if self.sessions and len(self.sessions) != len(self.signals):
            raise DataError(f"{where}: {len(self.signals)} recordings but {len(self.sessions)} session names")
        c = len(self.channel_names)
        if c == 0:
            raise DataError(f"{where}: no channels")
        for i, (x, y) in enumerate(zip(self.signals, self.labels)):
            if x.ndim != 2 or x.shape[1] != c or y.shape != (x.shape[0],):
                raise DataError(
                    f"{where}: recording {i} has signal {x.shape} and labels {y.shape}; "
                    f"expected (T, {c}) and (T,)"
                )
            if not np.isfinite(x).all():
                raise DataError(f"{where}: recording {i} holds NaN or inf values")
            if y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise DataError(
                    f"{where}: recording {i} has label {int(y.max())}; "
                    f"accepted 0..{len(self.class_names) - 1}"
                )

    @property
    def num_channels(self) -> int:
        return len(self.channel_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.signals])


def per_recording_labels(labels: np.ndarray, lengths: list[int]) -> tuple[np.ndarray, ...]:
    """Broadcast one label per recording to a (T_i,) label array per recording."""
    return tuple(np.full(n, int(y), dtype=np.int64) for y, n in zip(labels, lengths))
