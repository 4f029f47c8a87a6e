"""OPPORTUNITY (UCI release, Roggen et al. 2010; Chavarriaga et al. 2013): body-worn sensors of 4
subjects in 5 ADL runs and 1 drill run each, 30 Hz, from
``OpportunityUCIDataset/dataset/S{1-4}-{ADL1-5,Drill}.dat``.

Each line holds 250 space-separated integers (``NaN`` where missing): MILLISEC, 242 sensor columns and
7 label columns. Not the separate Challenge release (other columns, other label codes).

Channels: ``deepconvlstm113`` is Ordóñez & Roggen's subset (12 body accelerometers, 5 IMUs without
quaternions, both shoes: 1-based columns 2-46, 51-59, 64-72, 77-85, 90-98, 103-134); ``imu77`` drops
the 12 accelerometers (TinyHAR/ISWC22, Hammerla et al.). NaN follow DeepConvLSTM's pipeline: linear
interpolation per channel, held after the last reading, and 0 before the first (its NaN -> 0 step).
Its min-max scaling is not applied: ``prepare`` z-scores on the training split.

Labels: ``gestures`` is ML_Both_Arms (17 gestures + Null), ``locomotion`` is Stand/Walk/Sit/Lie + Null.
Each file is one recording, its session named like ``"S2-ADL4"``, so that the standard protocol
(``opportunity_standard``) can test on S2/S3 ADL4-5. Without Null, the Null rows are dropped and a
file becomes several recordings (one per run of a class), all with the file's session name.
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

URL = "https://archive.ics.uci.edu/static/public/226/opportunity+activity+recognition.zip"
SUBJECTS = (1, 2, 3, 4)
SESSIONS = ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill")
NCOLS = 250

LOCOMOTION = {0: "Null", 1: "Stand", 2: "Walk", 4: "Sit", 5: "Lie"}
GESTURES = {
    0: "Null", 406516: "Open Door 1", 406517: "Open Door 2", 404516: "Close Door 1", 404517: "Close Door 2",
    406520: "Open Fridge", 404520: "Close Fridge", 406505: "Open Dishwasher", 404505: "Close Dishwasher",
    406519: "Open Drawer 1", 404519: "Close Drawer 1", 406511: "Open Drawer 2", 404511: "Close Drawer 2",
    406508: "Open Drawer 3", 404508: "Close Drawer 3", 408512: "Clean Table", 407521: "Drink from Cup",
    405506: "Toggle Switch",
}
LABEL_COLUMN = {"locomotion": 243, "gestures": 249}  # 0-based; 1-based 244 and 250
LABEL_SETS = {"locomotion": LOCOMOTION, "gestures": GESTURES}


def _body_column_names() -> list[str]:
    """Names of 0-based columns 1..133 (the body-worn sensors), in file order."""
    names = [f"acc_{s}_{a}" for s in ("RKN^", "HIP", "LUA^", "RUA_", "LH", "BACK", "RKN_", "RWR", "RUA^",
                                      "LUA_", "LWR", "RH") for a in "xyz"]
    imu = [*(f"acc_{a}" for a in "xyz"), *(f"gyro_{a}" for a in "xyz"), *(f"mag_{a}" for a in "xyz"),
           *(f"quat_{i}" for i in range(1, 5))]
    names += [f"imu_{s}_{n}" for s in ("BACK", "RUA", "RLA", "LUA", "LLA") for n in imu]
    shoe = ["EuX", "EuY", "EuZ", "Nav_Ax", "Nav_Ay", "Nav_Az", "Body_Ax", "Body_Ay", "Body_Az",
            "AngVelBodyFrameX", "AngVelBodyFrameY", "AngVelBodyFrameZ",
            "AngVelNavFrameX", "AngVelNavFrameY", "AngVelNavFrameZ", "Compass"]
    names += [f"imu_{s}_{n}" for s in ("L-SHOE", "R-SHOE") for n in shoe]
    return names


COLUMN_NAMES = dict(enumerate(_body_column_names(), start=1))
_QUATERNIONS = {c for c, n in COLUMN_NAMES.items() if "_quat_" in n}
CHANNEL_SETS: dict[str, list[int]] = {
    "deepconvlstm113": [c for c in range(1, 134) if c not in _QUATERNIONS],
    "imu77": [c for c in range(37, 134) if c not in _QUATERNIONS],
}


@register_dataset
class OpportunityDataset(NativeDataset):
    """OPPORTUNITY UCI release; subjects 1-4, sessions ADL1-5 and Drill, 30 Hz."""

    name: Literal["opportunity"] = "opportunity"
    subjects: tuple[int, ...] = Field(SUBJECTS, min_length=1, description="which S{n}-*.dat to read")
    labels: Literal["gestures", "locomotion"] = "gestures"
    channels: Literal["deepconvlstm113", "imu77"] = "deepconvlstm113"
    # DeepConvLSTM's 18 gesture classes include Null; the per-class window pipelines drop it.
    include_null: bool = True

    RELEASE_SUBJECTS: ClassVar[tuple[int, ...]] = SUBJECTS
    SOURCE: ClassVar[Source] = Source(URL)

    def files(self) -> list[str]:
        return [_file(s, run) for s in self.subjects for run in SESSIONS]

    def parse(self, files: dict[str, Path]) -> Recordings:
        cols = CHANNEL_SETS[self.channels]
        codes = LABEL_SETS[self.labels]
        classes = [c for c in codes if self.include_null or c != 0]
        signals, labels, subjects, sessions = [], [], [], []
        rows = filled = null_rows = 0
        for s in self.subjects:
            for run in SESSIONS:
                path = files[_file(s, run)]
                table = read_table(path, NCOLS)
                y = label_codes(table[:, LABEL_COLUMN[self.labels]], codes, path, f"{self.labels} label")
                x, n = fill_gaps(table[:, cols], how="linear", leading="zero")
                rows, filled = rows + len(y), filled + n
                keep = np.isin(y, classes)
                null_rows += int((~keep).sum())
                spans = [slice(0, len(y))] if self.include_null else label_runs(keep, y)
                for span in spans:
                    signals.append(x[span].astype(np.float32))
                    labels.append(to_classes(y[span], classes))
                    subjects.append(s)
                    sessions.append(f"S{s}-{run}")
        if not signals:
            raise DataError(f"dataset 'opportunity': no {self.labels} label but Null in {len(files)} files")
        return Recordings(
            name=self.name,
            signals=tuple(signals),
            labels=tuple(labels),
            subjects=np.array(subjects, dtype=np.int64),
            channel_names=tuple(COLUMN_NAMES[c] for c in cols),
            class_names=tuple(codes[c] for c in classes),
            sampling_rate_hz=30.0,
            sessions=tuple(sessions),
            info={"rows": rows, "recordings": len(signals), "dropped": {"null": null_rows},
                  "filled": {"nan": filled}},
        )


def _file(subject: int, run: str) -> str:
    return f"OpportunityUCIDataset/dataset/S{subject}-{run}.dat"
