"""WISDM v1.1 (Kwapisz, Weiss & Moore 2010): a phone's accelerometer in the front pocket, 36 users,
6 activities, 20 Hz, from ``WISDM_ar_v1.1_raw.txt``.

Each record is ``user,activity,timestamp,x,y,z;`` with x/y/z in the phone's units (10 = 1 g, gravity
included) and the timestamp the phone's uptime in ns. The file is known to be untidy; the parser
keeps what it can and counts the rest (``Recordings.info``, logged by ``prepare`` callers):

* several records on one physical line, split on ``;`` (counted as ``repaired.shared_line``);
* a trailing comma after a complete record, ``...,z,;`` (stripped: ``repaired.trailing_comma``);
* short or unparsable records (``dropped.malformed``), unknown activities (``dropped.unknown_activity``),
  timestamp 0 (``dropped.zero_timestamp``), repeated (user, activity, timestamp) (``dropped.duplicate``).

A recording is a run of one user and one activity, cut where the timestamp does not increase or
jumps by more than ``max_gap_s``, so that no window spans a pause. No resampling: the rate is 20 Hz
nominal, irregular in practice.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from hartune.data.base import DataError, Recordings
from hartune.data.datasets import register_dataset
from hartune.data.native import NativeDataset, as_finite_float32
from hartune.data.sources import Source

ACTIVITIES = ("Walking", "Jogging", "Upstairs", "Downstairs", "Sitting", "Standing")
RAW_FILE = "WISDM_ar_v1.1/WISDM_ar_v1.1_raw.txt"
URL = "https://www.cis.fordham.edu/wisdm/includes/datasets/latest/WISDM_ar_latest.tar.gz"


@register_dataset
class WISDMDataset(NativeDataset):
    """WISDM v1.1 raw accelerometer records; 3 channels, 6 classes, subjects are the user ids."""

    name: Literal["wisdm"] = "wisdm"
    max_gap_s: float = Field(1.0, gt=0, description="cut a recording where timestamps jump by more")

    SOURCE: ClassVar[Source] = Source(URL)
    RELEASE_SUBJECTS: ClassVar[tuple[int, ...]] = tuple(range(1, 37))  # users 1-36

    def files(self) -> list[str]:
        return [RAW_FILE]

    def parse(self, files: dict[str, Path]) -> Recordings:
        path = files[RAW_FILE]
        rows, info = parse_records(path)
        if not rows:
            raise DataError(f"{path}: no valid record user,activity,timestamp,x,y,z; ({info['dropped']})")
        user = np.array([r[0] for r in rows], dtype=np.int64)
        act = np.array([r[1] for r in rows], dtype=np.int64)
        ts = np.array([r[2] for r in rows], dtype=np.int64)
        xyz = as_finite_float32(np.array([r[3:] for r in rows], dtype=np.float64), path, "x,y,z")  # (N, 3)
        dt = np.diff(ts)
        cut = (user[1:] != user[:-1]) | (act[1:] != act[:-1]) | (dt <= 0) | (dt > self.max_gap_s * 1e9)
        bounds = [0, *(np.flatnonzero(cut) + 1).tolist(), len(rows)]
        spans = [slice(a, b) for a, b in itertools.pairwise(bounds)]
        return Recordings(
            name=self.name,
            signals=tuple(xyz[s] for s in spans),
            labels=tuple(act[s] for s in spans),
            subjects=np.array([user[s.start] for s in spans], dtype=np.int64),
            channel_names=("acc_x", "acc_y", "acc_z"),
            class_names=ACTIVITIES,
            sampling_rate_hz=20.0,
            info={**info, "recordings": len(spans)},
        )


def parse_records(path: Path) -> tuple[list[tuple[int, int, int, float, float, float]], dict]:
    """The file's valid records in file order, (user, class index, timestamp, x, y, z), and a report
    ``{"records", "kept", "dropped": {reason: n}, "repaired": {what: n}}``."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise DataError(f"{path}: unreadable ({e})") from None
    activity = {a: i for i, a in enumerate(ACTIVITIES)}
    dropped = Counter({"malformed": 0, "unknown_activity": 0, "zero_timestamp": 0, "duplicate": 0})
    repaired = Counter({"shared_line": 0, "trailing_comma": 0})
    seen: set[tuple[int, int, int]] = set()
    rows: list[tuple[int, int, int, float, float, float]] = []
    total = 0
    for line in text.splitlines():
        records = [r for r in (part.strip() for part in line.split(";")) if r]
        repaired["shared_line"] += max(len(records) - 1, 0)
        for record in records:
            total += 1
            fields = record.split(",")
            if len(fields) > 6 and not fields[-1].strip():
                while len(fields) > 6 and not fields[-1].strip():
                    fields.pop()
                repaired["trailing_comma"] += 1
            try:
                if len(fields) != 6:
                    raise ValueError
                user, t = int(fields[0]), int(fields[2])
                x, y, z = float(fields[3]), float(fields[4]), float(fields[5])
                if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z)):
                    raise ValueError
            except ValueError:
                dropped["malformed"] += 1
                continue
            a = activity.get(fields[1].strip())
            if a is None:
                dropped["unknown_activity"] += 1
            elif t == 0:
                dropped["zero_timestamp"] += 1
            elif (user, a, t) in seen:
                dropped["duplicate"] += 1
            else:
                seen.add((user, a, t))
                rows.append((user, a, t, x, y, z))
    info = {"records": total, "kept": len(rows), "dropped": dict(dropped), "repaired": dict(repaired)}
    return rows, info
