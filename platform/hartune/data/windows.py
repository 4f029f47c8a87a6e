"""Sliding windows that never cross a recording (hence never a subject)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hartune.data.base import DataError, Recordings


class WindowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    length: int = Field(128, gt=0, description="samples per window")
    stride: int = Field(64, gt=0, description="samples between window starts")
    # 'majority' is the HAR default; 'last' follows DeepConvLSTM (label of the window's last sample).
    label: Literal["majority", "last"] = "majority"


@dataclass(frozen=True)
class Windows:
    x: np.ndarray  # (N, T, C) float32
    y: np.ndarray  # (N,) int64
    subject: np.ndarray  # (N,) subject of the recording each window comes from
    recording: np.ndarray  # (N,) recording index
    session: np.ndarray | None = None  # (N,) str session of the recording, where the dataset names them

    def take(self, idx: np.ndarray) -> Windows:
        session = None if self.session is None else self.session[idx]
        return Windows(self.x[idx], self.y[idx], self.subject[idx], self.recording[idx], session)

    def __len__(self) -> int:
        return len(self.y)


def window_label(labels: np.ndarray, rule: str, num_classes: int) -> np.ndarray:
    """(N, T) per-sample labels -> (N,) window labels; ties in 'majority' go to the lower class."""
    if rule == "last":
        return labels[:, -1]
    counts = np.apply_along_axis(np.bincount, 1, labels, minlength=num_classes)  # (N, K)
    return counts.argmax(axis=1)


def make_windows(rec: Recordings, cfg: WindowConfig) -> Windows:
    """Cut every recording into windows of ``cfg.length`` samples every ``cfg.stride`` samples."""
    xs, ys, subj, recs = [], [], [], []
    for r, (x, y) in enumerate(zip(rec.signals, rec.labels)):
        n = (len(x) - cfg.length) // cfg.stride + 1
        if n <= 0:
            continue  # too short for one window
        starts = np.arange(n) * cfg.stride
        idx = starts[:, None] + np.arange(cfg.length)[None, :]  # (n, T)
        xs.append(x[idx])
        ys.append(window_label(y[idx], cfg.label, rec.num_classes))
        subj.append(np.full(n, rec.subjects[r]))
        recs.append(np.full(n, r))
    if not xs:
        raise DataError(
            f"window.length={cfg.length} is longer than every recording of {rec.name!r} "
            f"(longest {int(rec.lengths.max())} samples); accepted 1..{int(rec.lengths.max())}"
        )
    recording = np.concatenate(recs).astype(np.int64)
    return Windows(
        np.concatenate(xs).astype(np.float32),
        np.concatenate(ys).astype(np.int64),
        np.concatenate(subj).astype(np.int64),
        recording,
        np.asarray(rec.sessions)[recording] if rec.sessions else None,
    )
