"""PAMAP2 (Reiss & Stricker 2012): three IMUs (hand, chest, ankle) and a heart-rate monitor, 9
subjects, the 12 protocol activities, 100 Hz, from ``PAMAP2_Dataset/Protocol/subject101.dat`` ... 109.

Each ``.dat`` line holds 54 space-separated values, ``NaN`` where missing: timestamp (s), activityID,
heart rate (bpm, ~9 Hz, so ``NaN`` between readings), then per IMU 17 values: temperature, acc ±16 g
(3), acc ±6 g (3), gyro (3), magnetometer (3) and orientation (4, declared invalid by the readme and
never used here). Activity 0 (transients between activities) is dropped, which cuts each file into
runs of one activity: each run is a recording, so no window spans a dropped transient. Heart rate is
held from one reading to the next; IMU gaps (dropped packets) are interpolated linearly.

Channel sets (``channels``). USAD's Table 3 "selected the three-axis acceleration data from the PAMAP2
data set" (§4.3, after Zuo et al. [17]) without naming the columns; ``acc9`` is our reading of it:

* ``acc9`` (Table 3): the x, y, z of the ±16 g accelerometer of each of the three IMUs (hand, chest,
  ankle), 0-based columns 4-6, 21-23, 38-40: 9 channels. The ±16 g sensor because the release's readme
  recommends it (the ±6 g one saturates in fast movements such as running and rope jumping and is "not
  precisely calibrated"), and all three IMUs because "the" acceleration data of PAMAP2 is all of it; one
  IMU would discard two thirds of the signal the other channel sets keep.
* alternatives, as values of the same key: ``acc9_6g`` (the ±6 g accelerometers, columns 7-9, 24-26,
  41-43), and ``acc3_hand`` / ``acc3_chest`` / ``acc3_ankle`` (one IMU's ±16 g accelerometer: three
  channels, the literal "three-axis" reading, WISDM's layout).
* the others: ``paper40`` (heart rate + every valid IMU column: USAD's 40 channels of Tables 2 and 5),
  ``imu36`` (no heart rate, no temperatures), ``acc_gyro18`` (±16 g accelerometers and gyroscopes).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from hartune.data.base import DataError, Recordings
from hartune.data.datasets import register_dataset
from hartune.data.native import NativeDataset, fill_gaps, label_codes, label_runs, read_table, to_classes
from hartune.data.sources import Source

URL = "https://archive.ics.uci.edu/static/public/231/pamap2+physical+activity+monitoring.zip"
SUBJECTS = tuple(range(101, 110))
PROTOCOL = {
    1: "lying", 2: "sitting", 3: "standing", 4: "walking", 5: "running", 6: "cycling",
    7: "Nordic walking", 12: "ascending stairs", 13: "descending stairs", 16: "vacuum cleaning",
    17: "ironing", 24: "rope jumping",
}
# The readme's other IDs: 0 transient, the rest only performed in the Optional sessions.
OTHER = {0: "other", 9: "watching TV", 10: "computer work", 11: "car driving", 18: "folding laundry",
         19: "house cleaning", 20: "playing soccer"}

HEART_RATE = 2
IMUS = {"hand": 3, "chest": 20, "ankle": 37}  # 0-based column of each IMU's temperature
_PARTS = {"temp": [0], "acc16": [1, 2, 3], "acc6": [4, 5, 6], "gyro": [7, 8, 9], "mag": [10, 11, 12]}


def _imu_columns(parts: tuple[str, ...]) -> list[int]:
    return [base + k for base in IMUS.values() for p in parts for k in _PARTS[p]]


# 0-based columns of each channel set. paper40 is every valid column: heart rate + 3 IMUs x (temperature,
# acc16, acc6, gyro, mag) = 1 + 3 x 13 = 40: our reading of USAD's "40 channels", which it does not list.
CHANNEL_SETS: dict[str, list[int]] = {
    "paper40": [HEART_RATE, *_imu_columns(("temp", "acc16", "acc6", "gyro", "mag"))],
    "imu36": _imu_columns(("acc16", "acc6", "gyro", "mag")),  # whar-datasets, xushige
    "acc_gyro18": _imu_columns(("acc16", "gyro")),  # ISWC22 / TinyHAR, self-attention-HAR
    "acc9": _imu_columns(("acc16",)),  # Table 3's three-axis acceleration (module docstring)
    "acc9_6g": _imu_columns(("acc6",)),
    **{f"acc3_{imu}": [base + k for k in _PARTS["acc16"]] for imu, base in IMUS.items()},
}
ChannelSet = Literal["paper40", "imu36", "acc_gyro18", "acc9", "acc9_6g", "acc3_hand", "acc3_chest", "acc3_ankle"]


def _file(subject: int) -> str:
    return f"PAMAP2_Dataset/Protocol/subject{subject}.dat"


def column_name(col: int) -> str:
    if col == HEART_RATE:
        return "heart_rate"
    imu, base = max(((n, b) for n, b in IMUS.items() if b <= col), key=lambda nb: nb[1])
    part, k = next((p, ks.index(col - base)) for p, ks in _PARTS.items() if col - base in ks)
    return f"{imu}_{part}" + ("" if part == "temp" else f"_{'xyz'[k]}")


@register_dataset
class PAMAP2Dataset(NativeDataset):
    """PAMAP2 Protocol sessions; 12 classes, subjects 101-109, 100 Hz."""

    name: Literal["pamap2"] = "pamap2"
    subjects: tuple[int, ...] = Field(SUBJECTS, min_length=1, description="which Protocol/subjectN.dat")
    channels: ChannelSet = "paper40"

    RELEASE_SUBJECTS: ClassVar[tuple[int, ...]] = SUBJECTS
    SOURCE: ClassVar[Source] = Source(URL)

    def files(self) -> list[str]:
        return [_file(s) for s in self.subjects]

    def parse(self, files: dict[str, Path]) -> Recordings:
        cols = np.array(CHANNEL_SETS[self.channels])
        hr = cols == HEART_RATE
        signals, labels, subjects = [], [], []
        counts = {"rows": 0, "activity_0": 0, "non_protocol_activity": 0, "heart_rate": 0, "imu": 0}
        for subject in self.subjects:
            path = files[_file(subject)]
            table = read_table(path, 54)
            act = label_codes(table[:, 1], [*PROTOCOL, *OTHER], path, "activityID")
            x = table[:, cols]
            x[:, hr], n_hr = fill_gaps(x[:, hr], how="ffill")
            x[:, ~hr], n_imu = fill_gaps(x[:, ~hr], how="linear")
            keep = np.isin(act, list(PROTOCOL))
            counts["rows"] += len(act)
            counts["activity_0"] += int((act == 0).sum())
            counts["non_protocol_activity"] += int((~keep & (act != 0)).sum())
            counts["heart_rate"] += n_hr
            counts["imu"] += n_imu
            for run in label_runs(keep, act):
                signals.append(x[run].astype(np.float32))
                labels.append(to_classes(act[run], list(PROTOCOL)))
                subjects.append(subject)
        if not signals:
            where = ", ".join(map(str, files.values()))
            raise DataError(f"dataset 'pamap2': no row of the 12 protocol activities in {where}")
        return Recordings(
            name=self.name,
            signals=tuple(signals),
            labels=tuple(labels),
            subjects=np.array(subjects, dtype=np.int64),
            channel_names=tuple(column_name(int(c)) for c in cols),
            class_names=tuple(PROTOCOL.values()),
            sampling_rate_hz=100.0,
            info={
                "rows": counts["rows"],
                "recordings": len(signals),
                "dropped": {k: counts[k] for k in ("activity_0", "non_protocol_activity")},
                "filled": {k: counts[k] for k in ("heart_rate", "imu")},  # NaN values filled
            },
        )
