"""UCI-HAR (Anguita et al. 2013): a waist-worn phone, 30 subjects, 6 activities, from the raw
``Inertial Signals`` of ``UCI HAR Dataset/{train,test}/``.

The release ships no continuous recordings: each line of ``Inertial Signals/<signal>_<axis>_<part>.txt``
is one window of 128 samples (2.56 s at 50 Hz) cut with 50 % overlap, with its activity in
``y_<part>.txt`` and its subject in ``subject_<part>.txt``. Each window is therefore one recording
here: windowing with ``length: 128`` gives back exactly the release's windows (a shorter length cuts
inside them). Consecutive windows share half their samples, so a random split of windows is leakier
still than usual; ``uci_har_official`` is the release's own subject split. The part each window comes
from is its session (``"train"`` / ``"test"``).

Channels: ``body_acc`` (gravity removed, g), ``body_gyro`` (rad/s), ``total_acc`` (g).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from hartune.data.base import DataError, Recordings
from hartune.data.datasets import register_dataset
from hartune.data.native import NativeDataset, label_codes, read_table, to_classes
from hartune.data.sources import Source

ACTIVITIES = {
    1: "WALKING", 2: "WALKING_UPSTAIRS", 3: "WALKING_DOWNSTAIRS", 4: "SITTING", 5: "STANDING", 6: "LAYING",
}
PARTS = ("train", "test")
WINDOW = 128
CHANNEL_SETS = {
    "all": ("body_acc", "body_gyro", "total_acc"),
    "body": ("body_acc", "body_gyro"),
    "total_acc": ("total_acc",),
}


def _signal_file(part: str, signal: str, axis: str) -> str:
    return f"UCI HAR Dataset/{part}/Inertial Signals/{signal}_{axis}_{part}.txt"


@register_dataset
class UCIHARDataset(NativeDataset):
    """UCI-HAR Inertial Signals; each 128-sample window is a recording; 6 classes, subjects 1-30, 50 Hz."""

    name: Literal["uci_har"] = "uci_har"
    channels: Literal["all", "body", "total_acc"] = "all"

    SOURCE: ClassVar[Source] = Source(
        "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip"
    )
    RELEASE_SUBJECTS: ClassVar[tuple[int, ...]] = tuple(range(1, 31))  # volunteers 1-30

    def _signals(self) -> list[tuple[str, str]]:
        return [(s, a) for s in CHANNEL_SETS[self.channels] for a in "xyz"]

    def files(self) -> list[str]:
        out = []
        for part in PARTS:
            out += [f"UCI HAR Dataset/{part}/y_{part}.txt", f"UCI HAR Dataset/{part}/subject_{part}.txt"]
            out += [_signal_file(part, s, a) for s, a in self._signals()]
        return out

    def parse(self, files: dict[str, Path]) -> Recordings:
        signals, labels, subjects, sessions = [], [], [], []
        for part in PARTS:
            y_path = files[f"UCI HAR Dataset/{part}/y_{part}.txt"]
            s_path = files[f"UCI HAR Dataset/{part}/subject_{part}.txt"]
            codes = label_codes(read_table(y_path, 1)[:, 0], ACTIVITIES, y_path, "activity")
            y = to_classes(codes, list(ACTIVITIES))
            subject = label_codes(read_table(s_path, 1)[:, 0], range(1, 31), s_path, "subject")
            if len(subject) != len(y):
                raise DataError(f"{s_path}: {len(subject)} lines but {y_path} has {len(y)}; expected equal")
            channels = []
            for s, a in self._signals():
                path = files[_signal_file(part, s, a)]
                table = read_table(path, WINDOW)
                if len(table) != len(y):
                    raise DataError(f"{path}: {len(table)} windows but {y_path} has {len(y)} labels")
                channels.append(table)
            x = np.stack(channels, axis=-1).astype(np.float32)  # (N, 128, C)
            signals += list(x)
            labels += [np.full(WINDOW, k, dtype=np.int64) for k in y]
            subjects.append(subject)
            sessions += [part] * len(y)
        return Recordings(
            name=self.name,
            signals=tuple(signals),
            labels=tuple(labels),
            subjects=np.concatenate(subjects).astype(np.int64),
            channel_names=tuple(f"{s}_{a}" for s, a in self._signals()),
            class_names=tuple(ACTIVITIES.values()),
            sampling_rate_hz=50.0,
            sessions=tuple(sessions),
            info={"windows": {p: sessions.count(p) for p in PARTS}},
        )
