"""``hartune report`` on a real tiny experiment (real Ray Tune, real MLflow SQLite store), and the table
builder on hand-made numbers. The experiment is run once for the module (about a minute)."""

from __future__ import annotations

import csv
import math
import re
import statistics

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from hartune.cli import main
from hartune.report import Observation, ablation_table, paired_test
from hartune.report.writers import ablation_csv, ablation_md
from spec_runs import run_spec, watch_entry

SEEDS = [0, 1, 2]
VARIANTS = ["Small CNN", "Tiny CNN"]  # spec order; deliberately not alphabetical
SPEC = {
    "name": "rep",
    "seeds": SEEDS,
    "max_concurrent": 2,
    "datasets": {
        "watch": watch_entry(epochs=2, lr=0.003)
    },
    "models": {"small": {"name": "cnn", "channels": [16, 16]}, "tiny": {"name": "cnn", "channels": [8, 8]}},
    "stages": [
        {"name": "table2", "kind": "grid", "variants": {"Small CNN": {"model": "small"}, "Tiny CNN": {"model": "tiny"}}},
        {"name": "search", "kind": "search", "from_stage": "table2", "sampler": "random", "num_samples": 3,
         "space": {"train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}}},
    ],
}
METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "gmean", "auc_macro"]


@pytest.fixture(scope="module")
def reported(tmp_path_factory, ray_local):
    d = tmp_path_factory.mktemp("report")
    rc, c = run_spec(d, SPEC, log_models="best")
    assert rc == 0
    uri = f"sqlite:///{d}/mlflow.db"
    out = d / "out"
    assert main(["report", "rep", "--uri", uri, "--out", str(out)]) == 0
    return c, uri, out, d


def _runs(c: MlflowClient, stage: str):
    exp = c.get_experiment_by_name("rep")
    every = c.search_runs([exp.experiment_id], max_results=1000)
    st = next(r for r in every if r.data.tags.get("hartune.level") == "stage" and r.info.run_name == stage)
    trials = [r for r in every if r.data.tags.get("mlflow.parentRunId") == st.info.run_id]
    return st, trials


def _values(trials, variant: str, metric: str) -> dict[int, float]:
    return {int(t.data.params["seed"]): t.data.metrics[f"test_{metric}"]
            for t in trials if t.data.tags["hartune.variant"] == variant}


def _md_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[1:]]  # without the header


def test_md_table_rows_cells_best_delta_and_test(reported) -> None:
    c, _, out, _ = reported
    _, trials = _runs(c, "table2")
    md = (out / "table2" / "table2.md").read_text()
    rows = _md_rows(md)
    assert [r[0] for r in rows] == VARIANTS
    for j, metric in enumerate(METRICS, start=1):
        vals = {v: _values(trials, v, metric) for v in VARIANTS}
        assert all(len(x) == len(SEEDS) for x in vals.values())
        means = {v: statistics.fmean(x.values()) for v, x in vals.items()}
        best = max(means, key=means.get)
        for i, v in enumerate(VARIANTS):
            cell = rows[i][j]
            expected = f"{100 * means[v]:.2f} ± {100 * statistics.stdev(vals[v].values()):.2f}"
            assert expected in cell, (metric, v, cell)
            assert cell.startswith(f"**{expected}**") == (v == best or math.isclose(means[v], means[best])), cell
        # row 2: delta = difference of the means, dagger iff scipy's paired t-test (n = 3) says p < 0.05
        delta = re.search(r"\(([+-]\d+\.\d\d)\)", rows[1][j]).group(1)
        assert delta == f"{100 * (means[VARIANTS[1]] - means[VARIANTS[0]]):+.2f}"
        x, y = (np.array([vals[v][s] for s in SEEDS]) for v in (VARIANTS[1], VARIANTS[0]))
        p = stats.ttest_rel(x, y).pvalue if not np.allclose(x, y) else math.nan
        assert rows[1][j].endswith("†") == (p < 0.05)
    assert "(" not in " ".join(rows[0][1:])  # no delta on the reference row
    assert "paired t-test" in md and "normally distributed" in md


def test_long_csv_holds_delta_zero_and_scipy_p(reported) -> None:
    c, _, out, _ = reported
    _, trials = _runs(c, "table2")
    rows = list(csv.DictReader((out / "table2" / "table2_long.csv").open()))
    f1 = {r["variant"]: r for r in rows if r["metric"] == "f1_macro"}
    assert float(f1[VARIANTS[0]]["delta"]) == 0.0
    a, b = _values(trials, VARIANTS[1], "f1_macro"), _values(trials, VARIANTS[0], "f1_macro")
    assert float(f1[VARIANTS[1]]["delta"]) == pytest.approx(statistics.fmean(a.values()) - statistics.fmean(b.values()))
    assert f1[VARIANTS[1]]["test"] == "paired-t"
    expected = stats.ttest_rel([a[s] for s in SEEDS], [b[s] for s in SEEDS]).pvalue
    assert float(f1[VARIANTS[1]]["p_value"]) == pytest.approx(expected, rel=1e-9)


def test_every_format_written_and_logged_under_report(reported) -> None:
    c, _, out, _ = reported
    folder = out / "table2"
    csv_text = (folder / "table2.csv").read_text()
    assert csv_text.count("*") >= 6 and "**" not in csv_text  # each column's best, marked with *
    tex = (folder / "table2.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and r"\textbf{" in tex
    assert "<table" in (folder / "table2.html").read_text() and "<b>" in (folder / "table2.html").read_text()
    st, _ = _runs(c, "table2")
    logged = {a.path for a in c.list_artifacts(st.info.run_id, "report")}
    assert {"report/table2.md", "report/table2.csv", "report/table2.tex", "report/table2.html", "report/report.md"} <= logged
    assert "report/radar_watch.png" in logged


def test_per_model_and_feature_tables(reported) -> None:
    _, _, out, _ = reported
    folder = out / "table2"
    for v in ("Small_CNN", "Tiny_CNN"):
        assert (folder / "models" / v / "confusion_matrix.png").stat().st_size > 0
        assert "recall" in (folder / "models" / v / "per_class.md").read_text()
    dist = list(csv.DictReader((folder / "feature_distances.csv").open()))
    assert len(dist) >= 1 and float(dist[0]["ratio"]) > 0 and dist[0]["data matches the run"] == "True"
    assert (folder / "models" / dist[0]["variant"].replace(" ", "_") / "tsne.png").stat().st_size > 0
    assert "params" in (folder / "deployment.md").read_text()


def test_search_report(reported) -> None:
    c, _, out, _ = reported
    folder = out / "search"
    for name in ("optimization_history.png", "param_importances.png", "slice.png", "parallel_coordinate.png"):
        assert (folder / name).stat().st_size > 1000, name
    imp = list(csv.DictReader((folder / "importances.csv").open()))
    assert [r["parameter"] for r in imp] == ["train.lr"] and float(imp[0]["importance"]) == pytest.approx(1.0)
    best = next(iter(csv.DictReader((folder / "best_config.csv").open())))
    _, trials = _runs(c, "search")
    top = max(trials, key=lambda t: t.data.metrics["best_val_f1_macro"])
    assert float(best["train.lr"]) == pytest.approx(float(top.data.params["space.train.lr"]))
    st, _ = _runs(c, "search")
    assert "report/optimization_history.png" in {a.path for a in c.list_artifacts(st.info.run_id, "report")}


def test_errors_are_one_line_exit_2(reported, capsys) -> None:
    _, uri, out, _ = reported
    assert main(["report", "nope", "--uri", uri, "--out", str(out / "x")]) == 2
    assert "experiment 'nope' not found" in capsys.readouterr().err
    assert main(["report", "rep", "--uri", uri, "--stage", "nostage", "--out", str(out / "x")]) == 2
    err = capsys.readouterr().err
    assert "nostage" in err and "table2" in err and len(err.strip().splitlines()) == 1


def test_auc_column_is_chosen_and_named_in_the_footnote(reported) -> None:
    """``--auc hard`` fills the AUC column from the logged hard-label AUC (the paper's pattern), and the
    footnote says which AUC it is; the default reads the probability AUC."""
    c, uri, out, d = reported
    _, trials = _runs(c, "table2")
    hard_out = d / "out_hard"
    assert main(["report", "rep", "--uri", uri, "--out", str(hard_out), "--stage", "table2", "--auc", "hard",
                 "--no-log", "--no-tsne"]) == 0
    for folder, key, words in ((out, "auc_macro", "predicted probabilities"),
                               (hard_out, "auc_macro_hard", "hard (argmax) predictions")):
        md = (folder / "table2" / "table2.md").read_text()
        means = [statistics.fmean(_values(trials, v, key).values()) for v in VARIANTS]
        for row, mean in zip(_md_rows(md), means):
            assert row[6].lstrip("*").startswith(f"{100 * mean:.2f} ±"), (key, row[6])
        assert words in md
    assert all(t.data.metrics["test_auc_macro_hard"] != t.data.metrics["test_auc_macro"] for t in trials)


def test_table_builder_on_hand_made_numbers() -> None:
    ref = [0.80, 0.82, 0.84, 0.81, 0.83, 0.85]
    new = [0.86, 0.87, 0.89, 0.86, 0.88, 0.90]  # always better: Wilcoxon with 6 pairs, p = 2/64
    obs = [Observation("A", "d1", s, {"accuracy": a}) for s, a in enumerate(ref)]
    obs += [Observation("B", "d1", s, {"accuracy": b}) for s, b in enumerate(new)]
    obs += [Observation("C", "d1", 0, {"accuracy": 0.5})]  # one seed: n/a
    t = ablation_table(obs, order=["A", "C", "B"], metrics=[("accuracy", "Acc.")])
    assert t.variants == ["A", "C", "B"]
    b = t.cell("B", "d1", "accuracy")
    assert b.mean == pytest.approx(np.mean(new)) and b.std == pytest.approx(np.std(new, ddof=1))
    assert b.delta == pytest.approx(np.mean(new) - np.mean(ref)) and t.cell("A", "d1", "accuracy").delta == 0
    assert b.test.test == "wilcoxon" and b.test.p == pytest.approx(stats.wilcoxon(new, ref).pvalue) == pytest.approx(2 / 64)
    assert b.best and not t.cell("A", "d1", "accuracy").best
    assert t.cell("C", "d1", "accuracy").test.test == "n/a"
    md = ablation_md(t)
    assert f"**{100 * np.mean(new):.2f} ± {100 * np.std(new, ddof=1):.2f}** (+{100 * (np.mean(new) - np.mean(ref)):.2f})†" in md
    assert "50.00 ± n/a" in md
    assert "Wilcoxon" in md
    assert f"{100 * np.mean(new):.2f} ± {100 * np.std(new, ddof=1):.2f}*" in ablation_csv(t)


def test_paired_test_small_n_is_paired_t() -> None:
    a, b = {0: 0.9, 1: 0.8, 2: 0.85}, {0: 0.7, 1: 0.75, 2: 0.71}
    r = paired_test(a, b)
    assert r.test == "paired-t" and r.n == 3
    assert r.p == pytest.approx(stats.ttest_rel([0.9, 0.8, 0.85], [0.7, 0.75, 0.71]).pvalue)
    assert paired_test({0: 0.5}, {0: 0.4}).test == "n/a"


def test_one_page_of_the_whole_run_in_a_browser(reported) -> None:
    """``index.html`` of the real report: every stage, every figure embedded, logged to each stage run,
    and it renders in headless Chromium with no console error and every image loaded."""
    from browser import load_page

    c, _, out, d = reported
    page = out / "index.html"
    text = page.read_text()
    assert 'id="stage-table2"' in text and 'id="stage-search"' in text and "Table 2 layout" in text
    assert not re.search(r'(src|href)="(?!data:|#)', text)  # self-contained
    pngs = len(list(out.rglob("*.png")))
    assert text.count('<img src="data:image/png;base64,') == pngs  # every figure of every stage folder
    for stage in ("table2", "search"):
        st, _ = _runs(c, stage)
        assert "report/index.html" in {a.path for a in c.list_artifacts(st.info.run_id, "report")}
    seen = load_page(page, d / "index.png")
    assert seen.errors == [] and len(seen.images) == pngs
    assert all(i["complete"] and i["naturalWidth"] > 0 for i in seen.images), [i for i in seen.images if not i["naturalWidth"]]
