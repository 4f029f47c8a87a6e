"""Table 3's stage for real: a ``comparison`` stage (3 models, 1 epoch, tiny windows) on the native-format
fixtures of PAMAP2 (three-axis acceleration, 100% and 50% of the training windows) and WISDM, run through
the real CLI (real local Ray, real MLflow SQLite); then ``hartune report`` prints Table 3 with both PAMAP2
column groups, Table 4 (per-activity, WISDM) and Table 6 (distances), and every cell is checked against
what the trials logged."""

from __future__ import annotations

import contextlib
import io
import json
import re
import statistics
from pathlib import Path

import native_fixtures as nf
import numpy as np
import pytest

from hartune.cli import main
from hartune.report.comparison import class_scores
from spec_runs import run_spec

SEEDS = [0, 1]
VARIANTS = ["CNN", "LSTM-CNN", "USAD"]  # USAD last: the reference row
TRAIN = {"epochs": 1, "batch_size": 32}


def spec(data: Path) -> dict:
    """The stage; the data roots are explicit, since Ray's workers do not see this process's environment."""
    pamap2 = {
        "dataset": {
            "name": "pamap2",
            "root": str(data / "pamap2"),
            "channels": "acc9",
            "subjects": list(nf.PAMAP2_SUBJECTS),
        },
        "window": {"length": 40, "stride": 20},
        "split": {"kind": "holdout", "test_subjects": [106], "val_subjects": [105]},
        "train": TRAIN,
    }
    return {
        "name": "t3",
        "seeds": SEEDS,
        "max_concurrent": 2,
        "datasets": {
            "pamap2_acc": pamap2,
            "pamap2_acc_50": {**pamap2, "train_fraction": 0.5},
            "wisdm": {
                "dataset": {"name": "wisdm", "root": str(data / "wisdm")},
                "window": {"length": 20, "stride": 10},
                "split": {"kind": "holdout", "test_subjects": [5, 33], "val_subjects": [6]},
                "train": TRAIN,
            },
        },
        "stages": [
            {
                "name": "table3",
                "kind": "comparison",
                "datasets": ["pamap2_acc", "pamap2_acc_50", "wisdm"],
                "per_class": ["wisdm"],
                "distances": ["CNN", "USAD"],
                "variants": {
                    "CNN": {"model": {"name": "cnn", "channels": [8, 8]}},
                    "LSTM-CNN": {"model": {"name": "lstm_cnn"}},
                    "USAD": {"model": {"name": "usad"}},
                },
            }
        ],
    }


@pytest.fixture(scope="module")
def reported(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("t3")
    data = root / "hartune_data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARTUNE_OFFLINE", "1")
        mp.setenv("HARTUNE_DATA", str(data))
        # recordings long enough for every class in the train, validation and test subjects
        mp.setattr(nf, "WISDM_USERS", (1, 2, 3, 4, 5, 6, 33))
        mp.setattr(nf, "WISDM_RUN", 120)
        mp.setattr(nf, "PAMAP2_SEGMENTS", [(0, 20), (1, 240), (0, 15), (4, 240), (0, 10), (24, 240), (0, 15)])
        nf.write_wisdm(data / "wisdm")
        nf.write_pamap2(data / "pamap2")
        rc, c = run_spec(root, spec(data))
        assert rc == 0
        out = root / "out"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert (
                main(["report", "t3", "--uri", f"sqlite:///{root}/mlflow.db", "--out", str(out), "--no-tsne"])
                == 0
            )
    exp = c.get_experiment_by_name("t3")
    trials = [
        r
        for r in c.search_runs([exp.experiment_id], max_results=1000)
        if r.data.tags.get("hartune.level") == "trial"
    ]
    return c, trials, out / "table3", printed.getvalue()


def md_rows(text: str) -> dict[str, list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]  # without the header
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in r.strip("|").split("|")] for r in rows)}


def section(printed: str, title: str) -> str:
    start = printed.index(title)
    end = printed.find("**Table", start + 1)
    return printed[start : end if end > 0 else None]


def values(trials, variant: str, dataset: str, key: str) -> list[float]:
    return [
        t.data.metrics[key]
        for t in trials
        if t.data.tags["hartune.variant"] == variant and t.data.params["dataset_key"] == dataset
    ]


def mean_std(xs: list[float], scale: float = 100.0, digits: int = 2) -> str:
    return f"{scale * statistics.fmean(xs):.{digits}f} ± {scale * statistics.stdev(xs):.{digits}f}"


@pytest.mark.slow
def test_table3_prints_both_pamap2_columns_and_wisdm_with_the_logged_means(reported) -> None:
    _, trials, _, printed = reported
    assert len(trials) == len(VARIANTS) * 3 * len(SEEDS)
    table3 = section(printed, "**Table 3 layout")
    header = next(line for line in table3.splitlines() if line.startswith("| Variant"))
    for d in ("pamap2_acc", "pamap2_acc_50", "wisdm"):
        assert f"{d}: Acc. (%)" in header and f"{d}: F1 (%)" in header
    assert "G-mean" not in header and "AUC" not in header  # Table 3's columns only
    rows = md_rows(table3)
    assert list(rows) == VARIANTS
    for i, d in enumerate(("pamap2_acc", "pamap2_acc_50", "wisdm")):
        for j, key in enumerate(("test_accuracy", "test_f1_macro")):
            for v in VARIANTS:
                assert rows[v][2 * i + j].replace("**", "").startswith(mean_std(values(trials, v, d, key)))
    assert all("(" not in cell for cell in rows["USAD"])  # the reference row: no Δ
    assert all(re.search(r"\([+-]\d+\.\d\d\)", cell) for cell in rows["CNN"])
    assert "mean minus the reference row's (USAD)" in table3


@pytest.mark.slow
def test_the_50_percent_setting_trains_on_half_and_tests_on_the_same_windows(reported) -> None:
    c, trials, _, _ = reported
    for v in VARIANTS:
        full, half = (
            next(
                t
                for t in trials
                if t.data.tags["hartune.variant"] == v
                and t.data.params["dataset_key"] == d
                and t.data.params["seed"] == "0"
            )
            for d in ("pamap2_acc", "pamap2_acc_50")
        )
        assert half.data.params["data.train_fraction.fraction"] == "0.5"
        assert "data.train_fraction.fraction" not in full.data.params
        assert half.data.tags["hartune.data_fingerprint"] != full.data.tags["hartune.data_fingerprint"]
        windows = {}
        for name, run in (("full", full), ("half", half)):
            path = c.download_artifacts(run.info.run_id, "data.json")
            windows[name] = json.loads(Path(path).read_text())["split"]["windows"]
        assert (
            windows["half"]["test"] == windows["full"]["test"]
            and windows["half"]["val"] == windows["full"]["val"]
        )
        assert (
            abs(windows["half"]["train"] - windows["full"]["train"] / 2) <= 3
        )  # ± 0.5 in each of 6 (subject, class) cells
        assert (
            half.data.params["data.dataset.channels"] == "acc9"
            and full.data.metrics["deploy_num_parameters"] > 0
        )


@pytest.mark.slow
def test_table4_is_per_activity_recall_and_f1_on_wisdm(reported) -> None:
    c, trials, folder, printed = reported
    table4 = section(printed, "**Table 4 layout")
    assert "on wisdm" in table4.splitlines()[0] and "its recall" in table4
    rows = md_rows(table4)
    assert list(rows) == VARIANTS
    header = next(line for line in table4.splitlines() if line.startswith("| Variant"))
    groups = [h.split(":")[0].strip() for h in header.strip("|").split("|")[1::2]]

    per_variant: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    names = None
    for t in trials:
        if t.data.params["dataset_key"] != "wisdm":
            continue
        cm = json.loads(Path(c.download_artifacts(t.info.run_id, "confusion_matrix.json")).read_text())
        names = cm["class_names"]
        per_variant.setdefault(t.data.tags["hartune.variant"], []).append(
            class_scores(np.array(cm["confusion_matrix"]))
        )
    tested = [n for n, k in zip(names, np.array(cm["confusion_matrix"]).sum(1)) if k > 0]
    assert groups == tested and len(tested) >= 3  # the activities of the test subjects, in class order
    for v in VARIANTS:
        for i, name in enumerate(tested):
            k = names.index(name)
            acc = [a[k] for a, _ in per_variant[v]]
            f1 = [f[k] for _, f in per_variant[v]]
            assert rows[v][2 * i].replace("**", "").startswith(mean_std(acc))
            assert rows[v][2 * i + 1].replace("**", "").startswith(mean_std(f1))
    assert (folder / "table4_wisdm.csv").is_file() and (folder / "table4_wisdm.tex").is_file()


@pytest.mark.slow
def test_table6_distances_of_its_rows_on_every_setting(reported) -> None:
    _, trials, folder, printed = reported
    table6 = section(printed, "**Table 6 layout")
    rows = md_rows(table6)
    assert list(rows) == ["CNN", "USAD"]  # the stage's `distances`, not LSTM-CNN
    header = next(line for line in table6.splitlines() if line.startswith("| Variant"))
    assert "pamap2_acc_50: Ratio" in header and "wisdm: Intra" in header and "(%)" not in header
    keys = ("test_intra_class_distance", "test_inter_class_distance", "test_inter_intra_ratio")
    for i, d in enumerate(("pamap2_acc", "pamap2_acc_50", "wisdm")):
        for j, key in enumerate(keys):
            for v in ("CNN", "USAD"):
                xs = values(trials, v, d, key)
                assert len(xs) == len(SEEDS)
                assert rows[v][3 * i + j].replace("**", "").startswith(mean_std(xs, scale=1.0, digits=4))
    intra = {v: statistics.fmean(values(trials, v, "wisdm", keys[0])) for v in ("CNN", "USAD")}
    assert "**" in rows[min(intra, key=intra.get)][6]  # the lowest intra-class distance is the best
    assert "penultimate features" in table6 and (folder / "table6.html").is_file()
