"""MHEALTH (Banos et al. 2014): sensors on the chest, left ankle and right lower arm, 10 subjects,
12 activities, 50 Hz, from ``MHEALTHDATASET/mHealth_subject{1-10}.log``.

Each line holds 24 tab-separated values: chest acc (3, m/s²), ECG leads 1-2 (mV), left-ankle acc,
gyro, mag (9), right-lower-arm acc, gyro, mag (9) and the label (0 = null, 1-12 the activities).
Each file is cut into one recording per run of one label, so that no window spans an activity
change; the null rows (between activities, most of the file) are dropped unless ``include_null``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from hartune.data.base import DataError, Recordings
from hartune.data.datasets import register_dataset
from hartune.data.native import NativeDataset, label_codes, label_runs, read_table, to_classes
from hartune.data.sources import Source

SUBJECTS = tuple(range(1, 11))
ACTIVITIES = {
    0: "Null", 1: "Standing still", 2: "Sitting and relaxing", 3: "Lying down", 4: "Walking",
    5: "Climbing stairs", 6: "Waist bends forward", 7: "Frontal elevation of arms",
    8: "Knees bending (crouching)", 9: "Cycling", 10: "Jogging", 11: "Running", 12: "Jump front & back",
}
COLUMNS = (
    "chest_acc_x", "chest_acc_y", "chest_acc_z", "ecg_1", "ecg_2",
    *(f"ankle_{s}_{a}" for s in ("acc", "gyro", "mag") for a in "xyz"),
    *(f"arm_{s}_{a}" for s in ("acc", "gyro", "mag") for a in "xyz"),
)
CHANNEL_SETS = {"all23": list(range(23)), "inertial21": [c for c in range(23) if c not in (3, 4)]}


@register_dataset
class MHealthDataset(NativeDataset):
    """MHEALTH logs; 12 classes (13 with Null), subjects 1-10, 50 Hz."""

    name: Literal["mhealth"] = "mhealth"
    subjects: tuple[int, ...] = Field(SUBJECTS, min_length=1, description="which mHealth_subjectN.log")
    channels: Literal["all23", "inertial21"] = "all23"  # inertial21: without the two ECG leads
    include_null: bool = False

    RELEASE_SUBJECTS: ClassVar[tuple[int, ...]] = SUBJECTS
    SOURCE: ClassVar[Source] = Source("https://archive.ics.uci.edu/static/public/319/mhealth+dataset.zip")

    def files(self) -> list[str]:
        return [_file(s) for s in self.subjects]

    def parse(self, files: dict[str, Path]) -> Recordings:
        cols = CHANNEL_SETS[self.channels]
        classes = [c for c in ACTIVITIES if self.include_null or c != 0]
        signals, labels, subjects = [], [], []
        rows = null_rows = 0
        for s in self.subjects:
            path = files[_file(s)]
            table = read_table(path, 24)
            nan_rows = np.isnan(table[:, :23]).any(axis=1)
            if nan_rows.any():
                raise DataError(f"{path}: NaN at row {int(np.argmax(nan_rows)) + 1}; the release has none")
            y = label_codes(table[:, 23], ACTIVITIES, path, "label")
            keep = np.isin(y, classes)
            rows, null_rows = rows + len(y), null_rows + int((~keep).sum())
            for run in label_runs(keep, y):
                signals.append(table[run, cols].astype(np.float32))
                labels.append(to_classes(y[run], classes))
                subjects.append(s)
        if not signals:
            raise DataError(f"dataset 'mhealth': only Null rows in {len(files)} files")
        return Recordings(
            name=self.name,
            signals=tuple(signals),
            labels=tuple(labels),
            subjects=np.array(subjects, dtype=np.int64),
            channel_names=tuple(COLUMNS[c] for c in cols),
            class_names=tuple(ACTIVITIES[c] for c in classes),
            sampling_rate_hz=50.0,
            info={"rows": rows, "recordings": len(signals), "dropped": {"null": null_rows}},
        )


def _file(subject: int) -> str:
    return f"MHEALTHDATASET/mHealth_subject{subject}.log"
