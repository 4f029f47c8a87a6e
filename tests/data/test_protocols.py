"""The standard protocols put the expected subjects and recordings on each side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from native_fixtures import (
    UCI_TEST,
    write_mhealth,
    write_opportunity,
    write_pamap2,
    write_uci_har,
    write_wisdm,
)

from hartune.data import SPLITS, DataConfig, DataError, load_recordings, make_windows, prepare

RUNS = ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill")


def _prepare(dataset: dict, window: dict, split: dict):
    return prepare(DataConfig.model_validate({"dataset": dataset, "window": window, "split": split}))


def test_uci_har_official_split(tmp_path: Path) -> None:
    write_uci_har(tmp_path)
    data = _prepare({"name": "uci_har", "root": str(tmp_path)}, {"length": 128, "stride": 128},
                    {"kind": "uci_har_official"})
    assert data.info["test_subjects"] == list(UCI_TEST)
    others = sorted(set(range(1, 31)) - set(UCI_TEST))
    assert len(data.info["val_subjects"]) == 3 and set(data.info["val_subjects"]) <= set(others)
    assert sorted(data.info["train_subjects"] + data.info["val_subjects"]) == others
    assert len(data.test.y) == 3 * len(UCI_TEST)  # the test windows are exactly the test part's
    assert not data.leaky_split


def test_pamap2_standard_split(tmp_path: Path) -> None:
    write_pamap2(tmp_path)
    data = _prepare({"name": "pamap2", "root": str(tmp_path), "subjects": [101, 102, 105, 106]},
                    {"length": 40, "stride": 20}, {"kind": "pamap2_standard"})
    assert (data.info["train_subjects"], data.info["val_subjects"], data.info["test_subjects"]) == (
        [101, 102], [105], [106])


def test_pamap2_loso_tests_each_subject_once(tmp_path: Path) -> None:
    write_pamap2(tmp_path)
    tested = []
    for fold in range(4):
        data = _prepare({"name": "pamap2", "root": str(tmp_path), "subjects": [101, 102, 105, 106]},
                        {"length": 40, "stride": 20}, {"kind": "loso", "fold": fold})
        tested += data.info["test_subjects"]
    assert tested == [101, 102, 105, 106]


@pytest.mark.parametrize("include_null", [True, False])
def test_opportunity_standard_split(tmp_path: Path, include_null: bool) -> None:
    write_opportunity(tmp_path)
    dataset = {"name": "opportunity", "root": str(tmp_path), "include_null": include_null}
    window = {"length": 6, "stride": 3, "label": "last"}
    data = _prepare(dataset, window, {"kind": "opportunity_standard"})
    assert data.info["test_sessions"] == ["S2-ADL4", "S2-ADL5", "S3-ADL4", "S3-ADL5"]
    assert data.info["val_sessions"] == ["S2-ADL3", "S3-ADL3"]
    assert data.info["train_sessions"] == sorted(
        [f"S1-{r}" for r in ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill")]
        + [f"S{s}-{r}" for s in (2, 3) for r in ("ADL1", "ADL2", "Drill")])
    assert data.info["excluded_sessions"] == [f"S4-{r}" for r in RUNS]
    assert data.info["test_subjects"] == [2, 3] and data.info["train_subjects"] == [1, 2, 3]
    # every window of S1-S3 is on exactly one side, S4's on none
    rec = load_recordings(DataConfig.model_validate({"dataset": dataset}).dataset)
    w = make_windows(rec, DataConfig.model_validate({"window": window}).window)
    assert len(data.train.y) + len(data.val.y) + len(data.test.y) == int((w.subject != 4).sum())
    assert len(data.test.y) == int(np.isin(w.session, ["S2-ADL4", "S2-ADL5", "S3-ADL4", "S3-ADL5"]).sum())
    with_s4 = _prepare(dataset, window, {"kind": "opportunity_standard", "exclude": []})
    assert 4 in with_s4.info["train_subjects"] and len(with_s4.train.y) > len(data.train.y)


def test_session_split_errors_are_clear(tmp_path: Path, watch_cfg: DataConfig) -> None:
    write_opportunity(tmp_path, subjects=(1, 2))
    rec = load_recordings(DataConfig.model_validate({"dataset": {"name": "opportunity", "root": str(tmp_path),
                                                                 "subjects": [1, 2]}}).dataset)
    w = make_windows(rec, DataConfig.model_validate({"window": {"length": 6, "stride": 6}}).window)
    split = SPLITS.get("sessions")
    with pytest.raises(DataError, match=r"split test session 'S3-ADL4' matches none; accepted: \['S1-ADL1'"):
        split(test=["S3-ADL4"], val=["S1-ADL3"]).assign(w.subject, w.y, w.session)
    with pytest.raises(DataError, match=r"sessions \['S1-ADL3'\] are both test and val"):
        split(test=["S1-ADL*"], val=["S1-ADL3"]).assign(w.subject, w.y, w.session)
    with pytest.raises(DataError, match="leaves no session to train on"):
        split(test=["S1-*"], val=["S2-*"]).assign(w.subject, w.y, w.session)
    watch = make_windows(load_recordings(watch_cfg.dataset), watch_cfg.window)
    with pytest.raises(DataError, match="needs session names per recording; this dataset has none"):
        split(test=["a"], val=["b"]).assign(watch.subject, watch.y, watch.session)


def test_session_split_with_patterns(tmp_path: Path) -> None:
    write_opportunity(tmp_path, subjects=(1, 2))
    data = _prepare({"name": "opportunity", "root": str(tmp_path), "subjects": [1, 2]},
                    {"length": 6, "stride": 6},
                    {"kind": "sessions", "test": ["S?-Drill"], "val": ["S1-ADL5"]})
    assert data.info["test_sessions"] == ["S1-Drill", "S2-Drill"] and data.info["val_sessions"] == ["S1-ADL5"]
    assert len(data.info["train_sessions"]) == 9


def test_wisdm_loso_and_kfold_by_subject(tmp_path: Path) -> None:
    write_wisdm(tmp_path)
    dataset, window = {"name": "wisdm", "root": str(tmp_path)}, {"length": 20, "stride": 10}
    tested = [_prepare(dataset, window, {"kind": "loso", "fold": f}).info["test_subjects"] for f in range(4)]
    assert sorted(s for t in tested for s in t) == [1, 2, 3, 33]
    folds = [_prepare(dataset, window, {"kind": "kfold", "k": 2, "fold": f}).info for f in range(2)]
    assert sorted(folds[0]["test_subjects"] + folds[1]["test_subjects"]) == [1, 2, 3, 33]
    assert all(set(f["train_subjects"]).isdisjoint(f["test_subjects"] + f["val_subjects"]) for f in folds)


def test_mhealth_loso(tmp_path: Path) -> None:
    write_mhealth(tmp_path)
    data = _prepare({"name": "mhealth", "root": str(tmp_path), "subjects": [1, 2, 3, 4]},
                    {"length": 50, "stride": 25}, {"kind": "loso", "fold": 2})
    assert data.info["test_subjects"] == [3] and data.info["val_subjects"] == [4]


def test_random_split_on_prewindowed_uci_har_is_flagged_leaky(tmp_path: Path) -> None:
    write_uci_har(tmp_path)
    dataset = {"name": "uci_har", "root": str(tmp_path)}
    data = _prepare(dataset, {"length": 128, "stride": 128}, {"kind": "random"})
    assert data.leaky_split is True
