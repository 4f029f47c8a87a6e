"""Small files in each release's exact native format, quirks included, with what a loader must find.

Each ``write_<name>(root, seed)`` writes a few subjects and a few hundred rows per file under ``root``
at the release's own relative paths, and returns the facts a correct parser recovers from them.
Values are class-dependent so that a windowed split still holds every class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io


@dataclass
class Expected:
    subjects: set[int]
    num_channels: int
    num_classes: int
    recordings: int
    samples: int  # total samples over all recordings
    classes_seen: set[str]
    info: dict = field(default_factory=dict)


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------------------------- WISDM

WISDM_USERS = (1, 2, 3, 33)
WISDM_RUN = 60  # records per (user, activity) run, 50 ms apart


def write_wisdm(root: Path, seed: int = 0) -> Expected:
    """``user,activity,timestamp,x,y,z;`` at 20 Hz, with every known quirk once (user 1 mostly)."""
    rng = np.random.default_rng(seed)
    acts = ("Walking", "Jogging", "Upstairs", "Downstairs", "Sitting", "Standing")
    lines: list[str] = []
    kept = 0
    recordings = 0

    def rec(u: int, a: str, t: int, k: int) -> str:
        x, y, z = rng.normal(k, 1.0, 3)
        return f"{u},{a},{t},{x:.7g},{y:.7g},{z:.7g};"

    for ui, u in enumerate(WISDM_USERS):
        for j in range(2):
            k = (ui + j) % 6
            a, t0 = acts[k], 49105962326000 + ui * 10**12 + j * 10**11
            ts = [t0 + i * 50_000_000 for i in range(WISDM_RUN)]
            if u == 2 and j == 0:  # a 5 s pause in the middle: two recordings
                ts = [t + (5 * 10**9 if i >= 30 else 0) for i, t in enumerate(ts)]
                recordings += 1
            recordings += 1
            records = [rec(u, a, t, k) for t in ts]
            kept += len(records)
            if u == 1 and j == 0:
                records[10] = records[10][:-1] + ",;"  # trailing comma after a complete record
                lines += records[:5]
                lines.append(records[5] + records[6])  # two records on one line
                lines += records[7:20]
                lines.append(f"{u},{a},{ts[20] + 1},4.4,4.4,;")  # short record: z missing
                lines.append(f"{u},{a},0,1.0,2.0,3.0;")  # zero timestamp
                lines.append("")  # blank line
                lines += records[20:31]
                lines.append(records[30])  # exact duplicate
                lines.append(f"{u},Swimming,{ts[30] + 2},1.0,2.0,3.0;")  # unknown activity
                lines.append(f"{u},{a},{ts[30] + 3},abc,2.0,3.0;")  # not a number
                lines += records[31:]
            else:
                lines += records
    lines.append("33,Walking,49105962326000,0.1")  # file cut mid-record (no newline after it)
    path = root / "WISDM_ar_v1.1" / "WISDM_ar_v1.1_raw.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    dropped = {"malformed": 3, "unknown_activity": 1, "zero_timestamp": 1, "duplicate": 1}
    return Expected(
        subjects=set(WISDM_USERS), num_channels=3, num_classes=6, recordings=recordings, samples=kept,
        classes_seen={acts[(ui + j) % 6] for ui in range(len(WISDM_USERS)) for j in range(2)},
        info={"records": kept + sum(dropped.values()), "kept": kept, "dropped": dropped,
              "repaired": {"shared_line": 1, "trailing_comma": 1}, "recordings": recordings},
    )


# -------------------------------------------------------------------------------------------- PAMAP2

PAMAP2_SUBJECTS = (101, 102, 105, 106)
# (activityID, rows): transients (0) between activities, and one non-protocol activity (10) in 102.
PAMAP2_SEGMENTS = [(0, 20), (1, 80), (0, 15), (4, 90), (0, 10), (24, 70), (0, 15)]
PAMAP2_HR_EVERY = 11  # ~9 Hz heart rate in a 100 Hz file: NaN in between


def pamap2_rows(subject: int) -> list[tuple[int, int]]:
    segments = list(PAMAP2_SEGMENTS)
    if subject == 102:
        segments.insert(4, (10, 25))
    return segments


def write_pamap2(root: Path, seed: int = 0, subjects: tuple[int, ...] = PAMAP2_SUBJECTS) -> Expected:
    """54 space-separated columns, NaN where missing, heart rate every 11th row, IMU packets lost."""
    rng = np.random.default_rng(seed)
    recordings = samples = 0
    for s in subjects:
        act = np.concatenate([np.full(n, a) for a, n in pamap2_rows(s)])
        t = len(act)
        table = rng.normal(act[:, None] / 4.0, 1.0, size=(t, 54))
        table[:, 0] = 5.0 + np.arange(t) * 0.01
        table[:, 1] = act
        hr = np.full(t, np.nan)
        hr[::PAMAP2_HR_EVERY] = 100 + np.arange(len(hr[::PAMAP2_HR_EVERY]))
        table[:, 2] = hr
        for base in (3, 20, 37):
            table[:, base] = 30 + rng.normal(0, 0.1, t)  # temperature
            table[:, base + 13 : base + 17] = [1, 0, 0, 0]  # orientation: invalid, must not appear
        table[50:53, 3:20] = np.nan  # a lost hand-IMU packet
        lines = []
        for row in table:
            values = ["NaN" if np.isnan(v) else f"{v:.6g}" for v in row[2:]]
            lines.append(" ".join([f"{row[0]:.2f}", str(int(row[1])), *values]))
        _write(root / "PAMAP2_Dataset" / "Protocol" / f"subject{s}.dat", lines)
        recordings += sum(1 for a, _ in pamap2_rows(s) if a not in (0, 10))
        samples += sum(n for a, n in pamap2_rows(s) if a not in (0, 10))
    return Expected(
        subjects=set(subjects), num_channels=40, num_classes=12, recordings=recordings, samples=samples,
        classes_seen={"lying", "walking", "rope jumping"},
        info={"dropped": {"activity_0": sum(n for a, n in PAMAP2_SEGMENTS if a == 0) * len(subjects),
                          "non_protocol_activity": 25 * (102 in subjects)}},
    )


# --------------------------------------------------------------------------------------- OPPORTUNITY

OPP_SUBJECTS = (1, 2, 3, 4)
OPP_SESSIONS = ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill")
OPP_ROWS = 72
# per-row labels of every file: locomotion (col 244) and ML_Both_Arms (col 250)
OPP_LOCOMOTION = [1] * 20 + [2] * 22 + [0] * 10 + [4] * 12 + [5] * 8
OPP_GESTURES = [0] * 14 + [406516] * 16 + [0] * 10 + [404516] * 12 + [0] * 8 + [407521] * 12


def write_opportunity(root: Path, seed: int = 0, subjects: tuple[int, ...] = OPP_SUBJECTS) -> Expected:
    """250 space-separated integer columns at 30 Hz, NaN runs in some sensors."""
    rng = np.random.default_rng(seed)
    g = np.array(OPP_GESTURES)
    for s in subjects:
        for run in OPP_SESSIONS:
            table = np.round(rng.normal(0, 300, size=(OPP_ROWS, 250)) + (g[:, None] % 7) * 100)
            table[:, 0] = np.arange(OPP_ROWS) * 33
            table[:, 243] = OPP_LOCOMOTION
            table[:, 244:249] = 0
            table[:, 249] = OPP_GESTURES
            table[10:14, 5] = np.nan  # a gap inside: interpolated
            table[:6, 40] = np.nan  # before the first reading: 0
            table[-5:, 55] = np.nan  # after the last reading: held
            table[:, 140:150] = np.nan  # object sensors, never used
            lines = [" ".join("NaN" if np.isnan(v) else str(int(v)) for v in row) for row in table]
            _write(root / "OpportunityUCIDataset" / "dataset" / f"S{s}-{run}.dat", lines)
    n = len(subjects) * len(OPP_SESSIONS)
    return Expected(
        subjects=set(subjects), num_channels=113, num_classes=18, recordings=n, samples=n * OPP_ROWS,
        classes_seen={"Null", "Open Door 1", "Close Door 1", "Drink from Cup"},
    )


# ------------------------------------------------------------------------------------------- UCI-HAR

UCI_TEST = (2, 4, 9, 10, 12, 13, 18, 20, 24)
UCI_WINDOWS_PER_SUBJECT = 3


def write_uci_har(root: Path, seed: int = 0) -> Expected:
    """All 30 subjects, 3 windows each, in train/ or test/ as in the release; 128 values per line
    written like the release (``  2.5717778e-001``)."""
    rng = np.random.default_rng(seed)
    base = root / "UCI HAR Dataset"
    for part in ("train", "test"):
        subs = [s for s in range(1, 31) if (s in UCI_TEST) == (part == "test")]
        subject = np.repeat(subs, UCI_WINDOWS_PER_SUBJECT)
        y = (np.arange(len(subject)) % 6) + 1
        _write(base / part / f"y_{part}.txt", [str(v) for v in y])
        _write(base / part / f"subject_{part}.txt", [str(v) for v in subject])
        for sig in ("body_acc", "body_gyro", "total_acc"):
            for axis in "xyz":
                x = rng.normal(y[:, None] / 6.0, 0.3, size=(len(y), 128))
                lines = ["".join(f"{_release_float(v):>16}" for v in row) for row in x]
                _write(base / part / "Inertial Signals" / f"{sig}_{axis}_{part}.txt", lines)
    n = 30 * UCI_WINDOWS_PER_SUBJECT
    return Expected(
        subjects=set(range(1, 31)), num_channels=9, num_classes=6, recordings=n, samples=n * 128,
        classes_seen={"WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"},
    )


def _release_float(v: float) -> str:
    """``2.5717778e-001``: the release's three-digit exponent."""
    mantissa, exp = f"{v:.7e}".split("e")
    return f"{mantissa}e{exp[0]}{int(exp[1:]):03d}"


# ------------------------------------------------------------------------------------------- MHEALTH

MHEALTH_SUBJECTS = (1, 2, 3, 4)
MHEALTH_LABELS = [0] * 40 + [1] * 60 + [0] * 30 + [4] * 70 + [0] * 25 + [12] * 60 + [0] * 15


def write_mhealth(root: Path, seed: int = 0) -> Expected:
    """24 tab-separated columns at 50 Hz, label 0 between activities."""
    rng = np.random.default_rng(seed)
    y = np.array(MHEALTH_LABELS)
    for s in MHEALTH_SUBJECTS:
        x = rng.normal(y[:, None] / 3.0, 1.0, size=(len(y), 23))
        lines = ["\t".join(f"{v:.5g}" for v in row) + f"\t{label}" for row, label in zip(x, y)]
        _write(root / "MHEALTHDATASET" / f"mHealth_subject{s}.log", lines)
    kept = int((y != 0).sum())
    return Expected(
        subjects=set(MHEALTH_SUBJECTS), num_channels=23, num_classes=12, recordings=3 * len(MHEALTH_SUBJECTS),
        samples=kept * len(MHEALTH_SUBJECTS), classes_seen={"Standing still", "Walking", "Jump front & back"},
        info={"dropped": {"null": int((y == 0).sum()) * len(MHEALTH_SUBJECTS)}},
    )


# --------------------------------------------------------------------------------------- UniMiB-SHAR

UNIMIB_CLASSES = (
    "StandingUpFS", "StandingUpFL", "Walking", "Running", "GoingUpS", "Jumping", "GoingDownS",
    "LyingDownFS", "SittingDown", "FallingForw", "FallingRight", "FallingBack", "HittingObstacle",
    "FallingWithPS", "FallingBackSC", "Syncope", "FallingLeft",
)
UNIMIB_SUBJECTS = (1, 2, 3, 4, 5)


def write_unimib(root: Path, seed: int = 0) -> Expected:
    """``acc_data.mat`` (N, 453: x|y|z of 151 samples), ``acc_labels.mat`` (N, 3: class, subject,
    trial) and ``acc_names.mat`` (a 2 x 17 cell array), as MATLAB v5 files."""
    rng = np.random.default_rng(seed)
    classes = np.array([1, 3, 4, 10, 16])  # 1-based
    n = 4 * len(UNIMIB_SUBJECTS) * len(classes) // 2
    label = classes[np.arange(n) % len(classes)]
    subject = np.array(UNIMIB_SUBJECTS)[np.arange(n) * len(UNIMIB_SUBJECTS) // n]  # every class per subject
    data = rng.normal(label[:, None] / 4.0, 1.0, size=(n, 453))
    names = np.empty((2, len(UNIMIB_CLASSES)), dtype=object)
    names[0] = [f"description of {c}" for c in UNIMIB_CLASSES]
    names[1] = list(UNIMIB_CLASSES)
    d = root / "UniMiB-SHAR" / "data"
    d.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(d / "acc_data.mat", {"acc_data": data})
    scipy.io.savemat(d / "acc_labels.mat", {"acc_labels": np.c_[label, subject, np.ones(n)].astype(float)})
    scipy.io.savemat(d / "acc_names.mat", {"acc_names": names})
    return Expected(
        subjects=set(UNIMIB_SUBJECTS), num_channels=3, num_classes=17, recordings=n, samples=n * 151,
        classes_seen={UNIMIB_CLASSES[c - 1] for c in classes},
    )


WRITERS = {
    "wisdm": write_wisdm,
    "pamap2": write_pamap2,
    "opportunity": write_opportunity,
    "uci_har": write_uci_har,
    "mhealth": write_mhealth,
    "unimib_shar": write_unimib,
}
# Config knobs that match what each writer wrote (the defaults expect the whole release).
KNOBS: dict[str, dict] = {
    "pamap2": {"subjects": list(PAMAP2_SUBJECTS)},
    "mhealth": {"subjects": list(MHEALTH_SUBJECTS)},
}
