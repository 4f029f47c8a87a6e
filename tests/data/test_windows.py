import numpy as np
import pytest

from hartune.data import DataError, Recordings, WindowConfig, make_windows


def _rec(labels: list[list[int]], subjects: list[int]) -> Recordings:
    sig = tuple(np.arange(len(y) * 2, dtype=np.float32).reshape(len(y), 2) + 100 * i for i, y in enumerate(labels))
    return Recordings("t", sig, tuple(np.array(y) for y in labels), np.array(subjects), ("a", "b"), ("x", "y", "z"), 10.0)


def test_windows_never_cross_recordings_or_subjects() -> None:
    rec = _rec([[0] * 10, [1] * 7, [2] * 3], subjects=[5, 5, 9])
    w = make_windows(rec, WindowConfig(length=4, stride=2))
    # 10 -> starts 0,2,4,6 ; 7 -> 0,2 ; 3 -> none
    assert w.recording.tolist() == [0, 0, 0, 0, 1, 1]
    assert w.subject.tolist() == [5, 5, 5, 5, 5, 5]
    # each window is contiguous samples of one recording (recording offset is 100*r)
    for x, r in zip(w.x, w.recording):
        assert np.all((x >= 100 * r) & (x < 100 * r + 100))
        assert np.all(np.diff(x[:, 0]) == 2)


def test_majority_and_last_labels() -> None:
    rec = _rec([[0, 0, 1, 1, 1, 2]], subjects=[1])
    maj = make_windows(rec, WindowConfig(length=6, stride=6, label="majority"))
    last = make_windows(rec, WindowConfig(length=6, stride=6, label="last"))
    assert maj.y.tolist() == [1] and last.y.tolist() == [2]


def test_window_longer_than_every_recording_is_a_clear_error() -> None:
    rec = _rec([[0] * 10, [1] * 7], subjects=[1, 2])
    with pytest.raises(DataError, match=r"window.length=11 .* \(longest 10 samples\)"):
        make_windows(rec, WindowConfig(length=11, stride=1))
