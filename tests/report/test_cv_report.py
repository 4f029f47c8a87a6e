"""``hartune report`` of a cross-validated grid (real Ray Tune, real MLflow SQLite store), read back: three
CNNs under 5-fold cross-validation by subject on the shipped watch data, one seed. One run serves every
assertion (~2 min on 2 cores). The report of a cross-validated search is checked on the search of
``tests/tune/test_cv_run.py``.

What it checks, against the fold trials' own metrics and artifacts in MLflow:
- Table 2 cells are mean ± std over folds × seeds, n stated; the footnote names the corrected resampled
  t-test and Holm, and the long table's p-values are that test's, Holm-adjusted;
- the per-fold table has one row per fold trial, the per-subject table every subject once with a value
  per variant, the per-subject plot is drawn; 5 folds as blocks give the Friedman/Nemenyi ranks and the
  critical-difference diagram.
"""

from __future__ import annotations

import csv
import json
import statistics

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from hartune.cli import main
from hartune.report.stats import corrected_resampled_t, holm
from spec_runs import run_spec, watch_entry

K, SUBJECTS = 5, list(range(1, 11))
VARIANTS = ["Small CNN", "Tiny CNN", "Thin CNN"]  # spec order
SPEC = {
    "name": "cvrep",
    "seeds": [0],
    "max_concurrent": 4,
    "resources": {"cpu": 0.5},
    "datasets": {
        "watch": {**watch_entry(epochs=2, lr=0.003), "split": {"kind": "kfold", "k": K, "folds": "all"}},
    },
    "models": {"small": {"name": "cnn", "channels": [16, 16]}, "tiny": {"name": "cnn", "channels": [8, 8]},
               "thin": {"name": "cnn", "channels": [8]}},
    "stages": [
        {"name": "table2", "kind": "grid",
         "variants": {"Small CNN": {"model": "small"}, "Tiny CNN": {"model": "tiny"}, "Thin CNN": {"model": "thin"}}},
    ],
}
METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "gmean", "auc_macro"]


@pytest.fixture(scope="module")
def reported(tmp_path_factory, ray_local):
    d = tmp_path_factory.mktemp("cvreport")
    rc, c = run_spec(d, SPEC)
    assert rc == 0
    out = d / "out"
    assert main(["report", "cvrep", "--uri", f"sqlite:///{d}/mlflow.db", "--out", str(out), "--no-tsne"]) == 0
    exp = c.get_experiment_by_name("cvrep")
    return c, c.search_runs([exp.experiment_id], max_results=1000), out


def _stage(runs, name: str):
    return next(r for r in runs if r.data.tags.get("hartune.level") == "stage" and r.info.run_name == name)


def _folds(runs, stage: str) -> list:
    return [r for r in runs if r.data.tags.get("hartune.level") == "trial" and r.data.tags.get("hartune.stage") == stage
            and "hartune.fold" in r.data.tags]


def _values(folds, variant: str, metric: str) -> dict[tuple[int, int], float]:
    return {(int(t.data.params["seed"]), int(t.data.tags["hartune.fold"])): t.data.metrics[f"test_{metric}"]
            for t in folds if t.data.tags["hartune.variant"] == variant}


def _md_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[1:]]


def _json(c: MlflowClient, run_id: str, path: str, tmp) -> object:
    return json.loads(open(c.download_artifacts(run_id, path, str(tmp))).read())


def test_table2_cells_are_fold_by_seed_means_and_name_the_test(reported) -> None:
    _, runs, out = reported
    folds = _folds(runs, "table2")
    md = (out / "table2" / "table2.md").read_text()
    rows = _md_rows(md.split("\n\n", 1)[1])[: len(VARIANTS)]
    assert [r[0] for r in rows] == VARIANTS
    for j, metric in enumerate(METRICS, start=1):
        for i, v in enumerate(VARIANTS):
            vals = list(_values(folds, v, metric).values())
            assert len(vals) == K
            expected = f"{100 * statistics.fmean(vals):.2f} ± {100 * statistics.stdev(vals):.2f}"
            assert expected in rows[i][j], (metric, v, rows[i][j])
    assert f"n = {K} folds × 1 seed" in md
    assert "corrected resampled t-test (Nadeau & Bengio 2003)" in md and f"J = {K} pairs" in md
    assert "Holm-adjusted p < 0.05" in md and "pairs matched by (fold, seed)" in md


def test_long_table_p_values_are_the_corrected_test_holm_adjusted(reported, tmp_path) -> None:
    c, runs, out = reported
    folds = _folds(runs, "table2")
    windows = [_json(c, t.info.run_id, "data.json", tmp_path)["split"]["windows"] for t in folds]
    ratio = float(np.mean([w["test"] / w["train"] for w in windows]))
    rows = [r for r in csv.DictReader((out / "table2" / "table2_long.csv").open()) if r["metric"] == "f1_macro"]
    by = {r["variant"]: r for r in rows}
    ref = _values(folds, VARIANTS[0], "f1_macro")
    raw = []
    for v in VARIANTS[1:]:
        mine = _values(folds, v, "f1_macro")
        d = [mine[k] - ref[k] for k in sorted(ref)]
        raw.append(corrected_resampled_t(d, ratio)[2])
        assert by[v]["test"] == "corrected-t" and by[v]["design"] == f"{K} folds × 1 seed"
    assert [float(by[v]["p_value"]) for v in VARIANTS[1:]] == pytest.approx(raw, rel=1e-6)
    assert [float(by[v]["p_holm"]) for v in VARIANTS[1:]] == pytest.approx(holm(raw), rel=1e-6)
    assert [by[v]["significant"] == "True" for v in VARIANTS[1:]] == [p < 0.05 for p in holm(raw)]


def test_per_fold_table_has_one_row_per_fold_trial(reported) -> None:
    _, runs, out = reported
    folds = _folds(runs, "table2")
    rows = list(csv.DictReader((out / "table2" / "folds.csv").open()))
    assert len(rows) == len(folds) == K * len(VARIANTS)
    by_run = {(t.data.tags["hartune.variant"], t.data.tags["hartune.fold"]): t for t in folds}
    for r in rows:
        t = by_run[(r["variant"], r["fold"])]
        assert r["test subjects"] == t.data.tags["hartune.test_subjects"]
        assert float(r["F1"]) == pytest.approx(t.data.metrics["test_f1_macro"])
    assert [r["variant"] for r in rows[::K]] == VARIANTS


def test_per_subject_table_has_every_subject_once_per_variant(reported, tmp_path) -> None:
    c, runs, out = reported
    rows = list(csv.DictReader((out / "table2" / "per_subject.csv").open()))
    assert sorted(int(r["subject"]) for r in rows) == SUBJECTS
    for v in VARIANTS:
        assert all(r[f"{v}: Acc."] and r[f"{v}: F1"] for r in rows)
    # the value is the subject's row of its fold trial's per_subject.json
    t = next(t for t in _folds(runs, "table2") if t.data.tags["hartune.variant"] == VARIANTS[1])
    logged = {s["subject"]: s for s in _json(c, t.info.run_id, "per_subject.json", tmp_path)}
    by_subject = {int(r["subject"]): r for r in rows}
    for s, scores in logged.items():
        assert by_subject[s]["fold"] == t.data.tags["hartune.fold"]
        assert float(by_subject[s][f"{VARIANTS[1]}: F1"]) == pytest.approx(scores["f1_macro"])
    assert (out / "table2" / "per_subject.png").stat().st_size > 5000
    assert "![per subject](per_subject.png)" in (out / "table2" / "report.md").read_text()


def test_ranks_and_critical_difference_diagram_over_the_folds(reported) -> None:
    c, runs, out = reported
    folder = out / "table2"
    ranks = list(csv.DictReader((folder / "ranks.csv").open()))
    assert sorted(r["variant"] for r in ranks) == sorted(VARIANTS)
    assert sum(float(r["mean rank"]) for r in ranks) == pytest.approx(6.0)  # 1 + 2 + 3 on every block
    assert (folder / "cd_diagram.png").stat().st_size > 3000
    report_md = (folder / "report.md").read_text()
    assert f"over {K} folds as blocks" in report_md and "Nemenyi critical difference" in report_md
    logged = {a.path for a in c.list_artifacts(_stage(runs, "table2").info.run_id, "report")}
    assert {"report/folds.csv", "report/per_subject.csv", "report/per_subject.png", "report/cd_diagram.png"} <= logged

