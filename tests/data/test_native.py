"""What every loader of an original release must do, checked on native-format fixture files:
parse them into the expected shapes, fail clearly on a missing or damaged release, cache the parsed
arrays, and feed ``prepare`` end to end."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from native_fixtures import KNOBS, WRITERS

from hartune.data import DATASETS, DataConfig, DataError, prepare
from hartune.data.native import CACHE_DIR, NativeDataset

NATIVE = sorted(WRITERS)


def config(name: str, root: Path | None, **knobs: object) -> NativeDataset:
    extra = {"root": root} if root is not None else {}
    return DATASETS.get(name)(**extra, **{**KNOBS.get(name, {}), **knobs})


def test_every_native_loader_has_a_fixture() -> None:
    native = {n for n in DATASETS.names() if issubclass(DATASETS.get(n), NativeDataset)}
    assert native == set(WRITERS)


@pytest.mark.parametrize("name", NATIVE)
def test_fixture_parses_into_expected_shapes_labels_and_subjects(name: str, tmp_path: Path) -> None:
    expected = WRITERS[name](tmp_path)
    rec = config(name, tmp_path).load()
    assert rec.name == name
    assert len(rec.signals) == expected.recordings
    assert int(rec.lengths.sum()) == expected.samples
    assert rec.num_channels == expected.num_channels and rec.num_classes == expected.num_classes
    assert set(rec.subjects.tolist()) == expected.subjects
    seen = {rec.class_names[k] for y in rec.labels for k in np.unique(y)}
    assert seen == expected.classes_seen
    assert all(x.dtype == np.float32 and np.isfinite(x).all() for x in rec.signals)
    assert rec.sampling_rate_hz > 0
    for key, value in expected.info.items():
        assert rec.info[key] == value, key


@pytest.mark.parametrize("name", NATIVE)
def test_missing_release_is_one_line_naming_the_file_and_the_url(name: str, tmp_path: Path) -> None:
    cfg = config(name, tmp_path / "empty")
    with pytest.raises(DataError) as e:
        cfg.load()
    msg = str(e.value)
    assert "\n" not in msg
    assert str(tmp_path / "empty" / cfg.files()[0]) in msg
    assert cfg.SOURCE.url in msg and cfg.SOURCE.url.startswith("https://")


@pytest.mark.parametrize("name", NATIVE)
def test_default_root_is_hartune_data_slash_name(name: str, _offline_data_root: Path) -> None:
    cfg = config(name, None)
    with pytest.raises(DataError, match=str(_offline_data_root / name)):
        cfg.load()
    expected = WRITERS[name](_offline_data_root / name)
    assert len(cfg.load().signals) == expected.recordings


@pytest.mark.parametrize("name", NATIVE)
def test_cache_is_hit_on_a_second_load_and_missed_when_the_source_changes(name: str, tmp_path: Path) -> None:
    WRITERS[name](tmp_path)
    cfg = config(name, tmp_path)
    first = cfg.load()
    assert first.info["cache"]["hit"] is False
    cached = Path(first.info["cache"]["path"])
    assert cached.parent == tmp_path / CACHE_DIR and cached.is_file()
    assert cached.name.startswith(f"{name}-") and len(cached.stem) == len(name) + 17

    second = cfg.load()
    assert second.info["cache"] == {"path": str(cached), "hit": True}
    report = {k: v for k, v in first.info.items() if k != "cache"}
    assert {k: v for k, v in second.info.items() if k != "cache"} == report
    assert second.channel_names == first.channel_names and second.class_names == first.class_names
    assert second.sessions == first.sessions and np.array_equal(second.subjects, first.subjects)
    for a, b, ya, yb in zip(first.signals, second.signals, first.labels, second.labels):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)

    WRITERS[name](tmp_path, seed=1)  # same layout, other values: other checksums
    third = cfg.load()
    assert third.info["cache"]["hit"] is False and third.info["cache"]["path"] != str(cached)
    assert not np.array_equal(third.signals[0], first.signals[0])


def test_an_unreadable_cache_is_parsed_again(tmp_path: Path) -> None:
    WRITERS["mhealth"](tmp_path)
    cfg = config("mhealth", tmp_path)
    cached = Path(cfg.load().info["cache"]["path"])
    cached.write_bytes(b"not an npz")
    again = cfg.load()
    assert again.info["cache"]["hit"] is False and len(again.signals) == 12


def test_cache_off_writes_nothing(tmp_path: Path) -> None:
    WRITERS["wisdm"](tmp_path)
    config("wisdm", tmp_path, cache=False).load()
    assert not (tmp_path / CACHE_DIR).exists()


def _cut_mid_line(path: Path, fraction: float = 0.6) -> None:
    """Truncate a text file in the middle of a line, as an interrupted copy would."""
    text = path.read_text()
    start = text.rfind("\n", 0, int(len(text) * fraction)) + 1
    end = text.index("\n", start)
    path.write_text(text[: start + (end - start) // 2])


# (file to cut, values per line)
DAMAGE = {
    "pamap2": ("PAMAP2_Dataset/Protocol/subject105.dat", 54),
    "opportunity": ("OpportunityUCIDataset/dataset/S3-ADL2.dat", 250),
    "uci_har": ("UCI HAR Dataset/test/Inertial Signals/body_gyro_y_test.txt", 128),
    "mhealth": ("MHEALTHDATASET/mHealth_subject2.log", 24),
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_truncated_file_is_a_clear_error_naming_file_and_line(name: str, tmp_path: Path) -> None:
    WRITERS[name](tmp_path)
    rel, ncols = DAMAGE[name]
    _cut_mid_line(tmp_path / rel)
    pattern = rf"{re.escape(str(tmp_path / rel))}: line \d+ has \d+ values; expected {ncols} \(truncated"
    with pytest.raises(DataError, match=pattern) as e:
        config(name, tmp_path).load()
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["pamap2", "opportunity", "mhealth"])
def test_non_numeric_token_is_a_clear_error(name: str, tmp_path: Path) -> None:
    WRITERS[name](tmp_path)
    path = tmp_path / config(name, tmp_path).files()[0]
    lines = path.read_text().splitlines()
    tokens = lines[7].split()
    tokens[3] = "12..5"
    lines[7] = " ".join(tokens)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{path.name}: line 8 holds '12\.\.5'; expected a number or NaN"):
        config(name, tmp_path).load()


def test_unknown_label_code_names_file_code_and_accepted(tmp_path: Path) -> None:
    WRITERS["pamap2"](tmp_path)
    path = tmp_path / "PAMAP2_Dataset/Protocol/subject101.dat"
    lines = path.read_text().splitlines()
    tokens = lines[30].split()
    tokens[1] = "8"  # not an activity ID of the release
    lines[30] = " ".join(tokens)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"subject101\.dat: activityID 8 at row 31; accepted: 0, 1, 2, .*24"):
        config("pamap2", tmp_path).load()


def test_corrupt_mat_file_is_a_clear_error(tmp_path: Path) -> None:
    WRITERS["unimib_shar"](tmp_path)
    path = tmp_path / "UniMiB-SHAR/data/acc_data.mat"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match=r"acc_data\.mat: not a readable MATLAB file"):
        config("unimib_shar", tmp_path).load()


def test_wisdm_file_without_one_valid_record_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "WISDM_ar_v1.1/WISDM_ar_v1.1_raw.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(DataError, match=r"WISDM_ar_v1\.1_raw\.txt: no valid record user,activity,timestamp"):
        config("wisdm", tmp_path).load()


# One realistic data config per dataset: window as usual for it, the split its protocol names.
PREPARE = {
    "wisdm": ({"length": 20, "stride": 10}, {"kind": "loso", "fold": 0}),
    "pamap2": ({"length": 40, "stride": 20}, {"kind": "pamap2_standard"}),
    "opportunity": ({"length": 24, "stride": 12, "label": "last"}, {"kind": "opportunity_standard"}),
    "uci_har": ({"length": 128, "stride": 128}, {"kind": "uci_har_official"}),
    "mhealth": ({"length": 50, "stride": 25}, {"kind": "kfold", "k": 4, "fold": 1}),
    "unimib_shar": ({"length": 151, "stride": 151}, {"kind": "holdout", "test_subjects": [1],
                                                   "val_subjects": [2]}),
}


@pytest.mark.parametrize("name", NATIVE)
def test_prepare_runs_end_to_end_on_the_fixture(name: str, tmp_path: Path) -> None:
    expected = WRITERS[name](tmp_path)
    window, split = PREPARE[name]
    dataset = {"name": name, "root": str(tmp_path), **KNOBS.get(name, {})}
    cfg = DataConfig.model_validate({"dataset": dataset, "window": window, "split": split})
    data = prepare(cfg)
    for part in (data.train, data.val, data.test):
        assert len(part.y) > 0
        assert part.x.shape[1:] == (window["length"], expected.num_channels) and part.x.dtype == np.float32
        assert part.y.min() >= 0 and part.y.max() < expected.num_classes
    assert data.num_classes == expected.num_classes and not data.leaky_split
    assert set(data.info["train_subjects"]).isdisjoint(data.info["test_subjects"]) or name == "opportunity"
    assert data.info["dataset"]["cache"]["hit"] is False  # the loader's report reaches the caller
    np.testing.assert_allclose(data.train.x.reshape(-1, expected.num_channels).mean(0), 0, atol=1e-4)
