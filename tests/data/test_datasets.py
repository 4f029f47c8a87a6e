from pathlib import Path

import numpy as np
import pytest

from hartune.data import DATASETS, DataError, load_recordings


def test_watch_is_the_real_seglearn_recordings() -> None:
    rec = load_recordings(DATASETS.get("watch")())
    assert len(rec.signals) == 140
    assert len(set(rec.subjects.tolist())) == 10
    assert rec.num_classes == 7 and rec.num_channels == 6
    assert rec.sampling_rate_hz == 50.0
    assert rec.channel_names == ("ax", "ay", "az", "wx", "wy", "wz")
    assert all(len(set(y.tolist())) == 1 for y in rec.labels)  # one label per recording, broadcast


def test_watch_located_without_importing_seglearn() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from hartune.data import DATASETS, load_recordings; "
        "load_recordings(DATASETS.get('watch')()); print('seglearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_arrays_recordings_layout(recordings_npz: Path) -> None:
    rec = load_recordings(DATASETS.get("arrays")(path=recordings_npz))
    assert len(rec.signals) == 12 and rec.class_names == ("sit", "walk", "run")
    assert rec.channel_names == ("a", "b", "c", "d") and rec.sampling_rate_hz == 25.0


def test_arrays_windows_layout_with_string_labels(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, X=np.zeros((5, 20, 3), np.float32), y=np.array(["b", "a", "b", "c", "a"]),
             subject=np.array([1, 1, 2, 2, 3]))
    rec = load_recordings(DATASETS.get("arrays")(path=path))
    assert rec.class_names == ("a", "b", "c")
    assert [int(y[0]) for y in rec.labels] == [1, 0, 1, 2, 0]


def test_corrupt_and_inconsistent_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="bad.npz"):
        load_recordings(DATASETS.get("arrays")(path=bad))
    short = tmp_path / "short.npz"
    np.savez(short, signals=np.zeros((10, 2)), lengths=np.array([4, 4]), y=np.array([0, 1]),
             subject=np.array([0, 1]))
    with pytest.raises(DataError, match="lengths sum to 8 but signals has 10 rows"):
        load_recordings(DATASETS.get("arrays")(path=short))


def test_unknown_dataset_lists_valid_names() -> None:
    valid = "arrays, mhealth, opportunity, pamap2, uci_har, unimib_shar, watch, wisdm"
    with pytest.raises(KeyError, match=f"valid: {valid}"):
        DATASETS.get("wisdmm")
