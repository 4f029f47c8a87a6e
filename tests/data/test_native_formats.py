"""Per-format details of the native loaders: quirks kept or counted, gaps filled, channel subsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from native_fixtures import (
    MHEALTH_LABELS,
    OPP_GESTURES,
    OPP_LOCOMOTION,
    PAMAP2_HR_EVERY,
    PAMAP2_SUBJECTS,
    UCI_TEST,
    write_mhealth,
    write_opportunity,
    write_pamap2,
    write_uci_har,
    write_unimib,
    write_wisdm,
)

from hartune.data import DATASETS, DataConfig, prepare
from hartune.data.base import Recordings


def load(name: str, root: Path, **knobs: object) -> Recordings:
    return DATASETS.get(name)(root=root, **knobs).load()


# --------------------------------------------------------------------------------------------- WISDM


def test_wisdm_keeps_repaired_records_and_cuts_at_pauses(tmp_path: Path) -> None:
    write_wisdm(tmp_path)
    rec = load("wisdm", tmp_path)
    lines = (tmp_path / "WISDM_ar_v1.1/WISDM_ar_v1.1_raw.txt").read_text().splitlines()
    first = rec.signals[0]  # user 1, Walking: 60 records despite the quirks in between
    assert rec.subjects[0] == 1 and len(first) == 60 and set(rec.labels[0].tolist()) == {0}
    shared = lines[5].split(";")  # the two records written on one line are records 5 and 6
    assert first[5].tolist() == pytest.approx([float(v) for v in shared[0].split(",")[3:]])
    assert first[6].tolist() == pytest.approx([float(v) for v in shared[1].split(",")[3:]])
    trailing = lines[9]  # record 10, with its trailing comma (line 9: one line holds two records)
    assert trailing.endswith(",;")
    assert first[10].tolist() == pytest.approx([float(v) for v in trailing.rstrip(",;").split(",")[3:]])
    # user 2's first run has a 5 s pause after 30 records: two recordings of 30
    user2 = [len(x) for x, s in zip(rec.signals, rec.subjects) if s == 2]
    assert user2 == [30, 30, 60]


def test_wisdm_drop_report_reaches_prepare(tmp_path: Path) -> None:
    write_wisdm(tmp_path)
    cfg = DataConfig.model_validate({"dataset": {"name": "wisdm", "root": str(tmp_path)},
                                     "window": {"length": 20, "stride": 20}, "split": {"kind": "random"}})
    data = prepare(cfg)
    assert data.leaky_split is True
    assert data.info["dataset"]["dropped"] == {"malformed": 3, "unknown_activity": 1, "zero_timestamp": 1,
                                               "duplicate": 1}


def test_wisdm_gap_threshold_is_a_knob(tmp_path: Path) -> None:
    write_wisdm(tmp_path)
    assert len(load("wisdm", tmp_path, max_gap_s=10.0).signals) == 8  # the 5 s pause no longer cuts


# -------------------------------------------------------------------------------------------- PAMAP2


def test_pamap2_drops_orientation_and_transients_and_fills_heart_rate(tmp_path: Path) -> None:
    write_pamap2(tmp_path)
    rec = load("pamap2", tmp_path, subjects=list(PAMAP2_SUBJECTS))
    assert len(rec.channel_names) == 40 and not any("orient" in c for c in rec.channel_names)
    assert rec.channel_names[:3] == ("heart_rate", "hand_temp", "hand_acc16_x")
    table = np.genfromtxt(tmp_path / "PAMAP2_Dataset/Protocol/subject101.dat")
    first = rec.signals[0]  # subject 101, lying: file rows 20..99
    assert [rec.class_names[y[0]] for y in rec.labels[:3]] == ["lying", "walking", "rope jumping"]
    assert len(first) == 80
    # heart rate holds the last reading (rows 0, 11, 22, ...): 100 + row // 11
    rows = np.arange(20, 100)
    np.testing.assert_allclose(first[:, 0], 100 + rows // PAMAP2_HR_EVERY)
    # the lost hand packet (rows 50-52) is interpolated between rows 49 and 53
    acc_x = table[20:100, 4]
    assert np.isnan(acc_x[30:33]).all()
    between = np.interp([50, 51, 52], [49, 53], table[[49, 53], 4])
    np.testing.assert_allclose(first[30:33, 2], between, rtol=1e-5)
    np.testing.assert_allclose(first[:30, 2], acc_x[:30], rtol=1e-5)
    # 3 rows x 13 hand channels per subject (the orientation columns are not read, so not counted)
    assert rec.info["filled"]["imu"] == 3 * 13 * len(PAMAP2_SUBJECTS)


@pytest.mark.parametrize(("channels", "count"), [("imu36", 36), ("acc_gyro18", 18), ("acc9", 9)])
def test_pamap2_channel_sets(tmp_path: Path, channels: str, count: int) -> None:
    write_pamap2(tmp_path, subjects=(101,))
    rec = load("pamap2", tmp_path, subjects=[101], channels=channels)
    assert rec.num_channels == count and "heart_rate" not in rec.channel_names
    assert all("temp" not in c for c in rec.channel_names)


@pytest.mark.parametrize(("channels", "columns"), [
    ("acc9", [4, 5, 6, 21, 22, 23, 38, 39, 40]), ("acc9_6g", [7, 8, 9, 24, 25, 26, 41, 42, 43]),
    ("acc3_hand", [4, 5, 6]), ("acc3_chest", [21, 22, 23]), ("acc3_ankle", [38, 39, 40]),
])
def test_pamap2_acceleration_sets_read_their_accelerometer_columns(tmp_path: Path, channels: str, columns: list[int]) -> None:
    """Table 3's ``acc9`` and its alternatives hold exactly the named accelerometer columns of the file."""
    write_pamap2(tmp_path, subjects=(101,))
    rec = load("pamap2", tmp_path, subjects=[101], channels=channels)
    assert all("_acc" in c for c in rec.channel_names) and len(rec.channel_names) == len(columns)
    table = np.genfromtxt(tmp_path / "PAMAP2_Dataset" / "Protocol" / "subject101.dat")
    lying = table[20:100]  # the first protocol run (activity 1), outside the lost hand packet
    np.testing.assert_allclose(rec.signals[0][:30], lying[:30, columns], rtol=1e-5)


def test_pamap2_rejects_subjects_outside_the_release() -> None:
    with pytest.raises(ValueError, match=r"subjects \[110\] are not in the release; accepted: \[101"):
        DATASETS.get("pamap2")(subjects=[101, 110])


def test_pamap2_reads_protocol_not_optional_and_tolerates_a_wrapping_folder(tmp_path: Path) -> None:
    wrapped = tmp_path / "PAMAP2_Dataset"  # as the current UCI zip unpacks: PAMAP2_Dataset/PAMAP2_Dataset/...
    write_pamap2(wrapped, subjects=(101,))
    optional = wrapped / "PAMAP2_Dataset" / "Optional" / "subject101.dat"
    optional.parent.mkdir(parents=True)
    optional.write_text("not the protocol file\n")
    rec = load("pamap2", tmp_path, subjects=[101])
    assert len(rec.signals) == 3


# --------------------------------------------------------------------------------------- OPPORTUNITY


def test_opportunity_113_channels_sessions_and_standard_nan_filling(tmp_path: Path) -> None:
    write_opportunity(tmp_path, subjects=(1, 2))
    rec = load("opportunity", tmp_path, subjects=[1, 2])
    assert rec.num_channels == 113 and not any("quat" in c for c in rec.channel_names)
    assert rec.channel_names[0] == "acc_RKN^_x" and rec.channel_names[-1] == "imu_R-SHOE_Compass"
    assert rec.sessions[:6] == ("S1-ADL1", "S1-ADL2", "S1-ADL3", "S1-ADL4", "S1-ADL5", "S1-Drill")
    table = np.genfromtxt(tmp_path / "OpportunityUCIDataset/dataset/S1-ADL1.dat")
    x = rec.signals[0]
    # file column c (0-based) is channel c - 1 up to 45; column 55 is channel 50 (4 quaternions before it)
    np.testing.assert_allclose(x[10:14, 4], np.interp(range(10, 14), [9, 14], table[[9, 14], 5]), rtol=1e-6)
    np.testing.assert_array_equal(x[:6, 39], 0.0)  # before the first reading: 0
    np.testing.assert_array_equal(x[6:, 39], table[6:, 40])
    np.testing.assert_array_equal(x[-5:, 50], table[-6, 55])  # after the last reading: held
    assert rec.class_names[0] == "Null" and rec.class_names[1] == "Open Door 1"
    assert [rec.class_names[k] for k in rec.labels[0][[0, 20, 45, 70]]] == [
        "Null", "Open Door 1", "Close Door 1", "Drink from Cup"]


def test_opportunity_locomotion_without_null_cuts_runs(tmp_path: Path) -> None:
    write_opportunity(tmp_path, subjects=(3,))
    knobs = {"subjects": [3], "labels": "locomotion", "include_null": False, "channels": "imu77"}
    rec = load("opportunity", tmp_path, **knobs)
    assert rec.num_channels == 77 and rec.class_names == ("Stand", "Walk", "Sit", "Lie")
    per_file = [n for n in OPP_LOCOMOTION if n]  # non-null runs in each file: Stand, Walk, Sit, Lie
    assert len(rec.signals) == 6 * 4 and len(per_file) == 62
    assert [len(x) for x in rec.signals[:4]] == [20, 22, 12, 8]
    assert set(rec.sessions) == {f"S3-{r}" for r in ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill")}
    assert rec.info["dropped"] == {"null": 6 * OPP_LOCOMOTION.count(0)}


def test_opportunity_gestures_without_null(tmp_path: Path) -> None:
    write_opportunity(tmp_path, subjects=(2,))
    rec = load("opportunity", tmp_path, subjects=[2], include_null=False)
    assert rec.num_classes == 17 and "Null" not in rec.class_names
    assert int(rec.lengths.sum()) == 6 * sum(1 for g in OPP_GESTURES if g)


# ------------------------------------------------------------------------------------------- UCI-HAR


def test_uci_har_windows_are_recordings_with_official_parts(tmp_path: Path) -> None:
    write_uci_har(tmp_path)
    rec = load("uci_har", tmp_path)
    assert set(rec.lengths.tolist()) == {128}
    test_subjects = {int(s) for s, p in zip(rec.subjects, rec.sessions) if p == "test"}
    assert test_subjects == set(UCI_TEST)
    first = np.loadtxt(tmp_path / "UCI HAR Dataset/train/Inertial Signals/body_acc_x_train.txt")[0]
    np.testing.assert_allclose(rec.signals[0][:, 0], first, rtol=1e-6)  # the e-001 exponents parse
    last = np.loadtxt(tmp_path / "UCI HAR Dataset/test/Inertial Signals/total_acc_z_test.txt")[-1]
    np.testing.assert_allclose(rec.signals[-1][:, 8], last, rtol=1e-6)
    assert rec.channel_names[8] == "total_acc_z"
    body = load("uci_har", tmp_path, channels="body")
    assert body.channel_names == tuple(f"{s}_{a}" for s in ("body_acc", "body_gyro") for a in "xyz")


def test_uci_har_label_and_subject_files_must_agree(tmp_path: Path) -> None:
    write_uci_har(tmp_path)
    path = tmp_path / "UCI HAR Dataset/train/subject_train.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    from hartune.data import DataError

    with pytest.raises(DataError, match=r"subject_train\.txt: 62 lines but .*y_train\.txt has 63"):
        load("uci_har", tmp_path)


# ------------------------------------------------------------------------------------------- MHEALTH


def test_mhealth_null_and_channel_knobs(tmp_path: Path) -> None:
    write_mhealth(tmp_path)
    rec = load("mhealth", tmp_path, subjects=[1, 2, 3, 4], include_null=True, channels="inertial21")
    assert rec.class_names[0] == "Null" and rec.num_classes == 13
    assert rec.num_channels == 21 and not any("ecg" in c for c in rec.channel_names)
    assert int(rec.lengths.sum()) == 4 * len(MHEALTH_LABELS)
    assert len(rec.signals) == 4 * 7  # one recording per run of a label, Null runs included


# --------------------------------------------------------------------------------------- UniMiB-SHAR


def test_unimib_windows_are_split_into_xyz_channels(tmp_path: Path) -> None:
    write_unimib(tmp_path)
    rec = load("unimib_shar", tmp_path)
    mat = tmp_path / "UniMiB-SHAR/data"
    data = scipy.io.loadmat(mat / "acc_data.mat")["acc_data"]
    labels = scipy.io.loadmat(mat / "acc_labels.mat")["acc_labels"]
    i = 7
    np.testing.assert_allclose(rec.signals[i], data[i].reshape(3, 151).T, rtol=1e-6)
    assert rec.class_names[rec.labels[i][0]] == rec.class_names[int(labels[i, 0]) - 1]
    assert rec.class_names[:3] == ("StandingUpFS", "StandingUpFL", "Walking")
    assert rec.subjects[i] == labels[i, 1]
