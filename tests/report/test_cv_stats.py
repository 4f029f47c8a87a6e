"""The cross-validation statistics and tables of the report on hand-made numbers: the corrected resampled
t-test and Holm against values worked out by hand, Table 2 cells paired by (seed, fold), the per-subject
table in the LOSO layout, and the Friedman/Nemenyi ranks (autorank) against scipy and Demšar's formula."""

from __future__ import annotations

import math
import random
import statistics

import numpy as np
import pytest
from scipy import stats

from hartune.report import Observation, ablation_table
from hartune.report.cv import (
    SubjectScore,
    fold_rows,
    mean_curve,
    per_subject_rows,
    rank_variants,
    subject_values,
)
from hartune.report.stats import corrected_resampled_t, cv_paired_test, holm
from hartune.report.writers import ablation_md


def test_corrected_resampled_t_against_a_hand_computed_value() -> None:
    d = [0.02, 0.03, 0.01, 0.04, 0.00]
    # mean 0.02; var (ddof=1) = (0 + 1 + 1 + 4 + 4)e-4 / 4 = 2.5e-4; 1/J + ratio = 0.2 + 0.25 = 0.45
    # t = 0.02 / sqrt(0.45 * 2.5e-4) = 2 / sqrt(1.125); df = 4
    t_hand = 2 / math.sqrt(1.125)
    # Student's t with 4 df has a closed-form CDF: F(x) = 1/2 + 3/8 * u * (1 - x^2 / (12 (1 + x^2/4))),
    # u = x / sqrt(1 + x^2/4); two-sided p = 2 (1 - F(t))
    u = t_hand / math.sqrt(1 + t_hand**2 / 4)
    p_hand = 2 * (1 - (0.5 + 3 / 8 * u * (1 - t_hand**2 / (12 * (1 + t_hand**2 / 4)))))
    t, df, p = corrected_resampled_t(d, 0.25)
    assert t == pytest.approx(1.885618083164127) == pytest.approx(t_hand)
    assert df == 4
    assert p == pytest.approx(p_hand) == pytest.approx(0.13241892, abs=1e-8)
    # the plain paired t-test (ratio 0) is the overconfident one the correction replaces
    plain = stats.ttest_1samp(d, 0.0)
    assert corrected_resampled_t(d, 0.0)[0] == pytest.approx(plain.statistic)
    assert plain.pvalue < 0.05 < p


def test_corrected_resampled_t_edge_cases() -> None:
    assert math.isnan(corrected_resampled_t([0.1], 0.2)[2])
    assert math.isnan(corrected_resampled_t([0.0, 0.0, 0.0], 0.2)[2])  # no difference: no evidence
    t, _, p = corrected_resampled_t([0.05, 0.05, 0.05], 0.2)  # every difference equal: infinite t
    assert t == math.inf and p == 0.0


def test_holm_against_hand_values() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(1*0.04, 0.06)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adj = holm([0.02, math.nan, 0.04])  # nan is not a comparison: m = 2
    assert adj[0] == pytest.approx(0.04) and math.isnan(adj[1]) and adj[2] == pytest.approx(0.04)
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    assert holm([0.03]) == [0.03]


def test_cv_paired_test_pairs_by_seed_and_fold() -> None:
    a = {(0, 0): 0.90, (0, 1): 0.80, (1, 0): 0.88, (1, 1): 0.83, (0, 2): 0.7}
    b = {(1, 1): 0.80, (0, 0): 0.85, (1, 0): 0.86, (0, 1): 0.79}  # (0, 2) unpaired: left out
    r = cv_paired_test(a, b, 0.3)
    d = [0.90 - 0.85, 0.80 - 0.79, 0.88 - 0.86, 0.83 - 0.80]
    assert r.test == "corrected-t" and r.n == 4 and r.test_train_ratio == 0.3
    assert r.p == pytest.approx(corrected_resampled_t(d, 0.3)[2])


def _cv_obs(values: dict[str, list[float]], seeds: int, ratio: float = 0.25) -> list[Observation]:
    """One observation per (variant, seed, fold); values listed seed-major."""
    out = []
    for v, xs in values.items():
        folds = len(xs) // seeds
        for i, x in enumerate(xs):
            s, f = divmod(i, folds)
            out.append(Observation(v, "d1", s, {"accuracy": x}, fold=f, test_subjects=(f + 1,), test_train_ratio=ratio))
    random.Random(0).shuffle(out)  # pairing is by (seed, fold), never by position
    return out


def test_cv_cells_mean_std_over_folds_and_seeds_holm_dagger() -> None:
    ref = [0.80, 0.82, 0.78, 0.81, 0.79, 0.80, 0.83, 0.77, 0.82, 0.80]  # 5 folds x 2 seeds
    much = [x + 0.10 + 0.002 * i for i, x in enumerate(ref)]  # far better on every pair
    bit = [x + (0.01 if i % 2 else -0.005) for i, x in enumerate(ref)]  # noise around the reference
    t = ablation_table(_cv_obs({"A": ref, "B": much, "C": bit}, seeds=2), order=["A", "B", "C"],
                       metrics=[("accuracy", "Acc.")])
    b, c = t.cell("B", "d1", "accuracy"), t.cell("C", "d1", "accuracy")
    assert b.n == 10 and b.design() == "5 folds × 2 seeds" and t.cross_validated
    assert b.mean == pytest.approx(np.mean(much)) and b.std == pytest.approx(np.std(much, ddof=1))
    raw = [corrected_resampled_t(np.array(x) - np.array(ref), 0.25)[2] for x in (much, bit)]
    assert b.test.test == c.test.test == "corrected-t" and b.test.n == 10
    assert [b.test.p, c.test.p] == pytest.approx(raw)
    assert [b.test.p_holm, c.test.p_holm] == pytest.approx(holm(raw))
    assert b.test.significant and not c.test.significant
    md = ablation_md(t)
    assert "n = 5 folds × 2 seeds" in md and "corrected resampled t-test (Nadeau & Bengio 2003)" in md
    assert "Holm-adjusted p < 0.05" in md and "J = 10 pairs" in md and "n_test/n_train = 0.25" in md
    assert f"{100 * np.mean(much):.2f} ± {100 * np.std(much, ddof=1):.2f}** (+" in md and ")†" in md
    long = {r["variant"]: r for r in t.long_rows()}
    assert long["B"]["design"] == "5 folds × 2 seeds" and long["B"]["p_holm"] == pytest.approx(holm(raw)[0])
    assert long["A"]["values"].startswith("s0f0:")


def test_holm_takes_a_dagger_off_a_raw_p_under_005() -> None:
    ref = [0.80, 0.82, 0.78, 0.81, 0.79, 0.80]
    d = [0.020, 0.030, 0.010, 0.040, 0.000, 0.025]
    rows = {"A": ref, "B": [x + e for x, e in zip(ref, d)], "C": [x + e + 0.001 for x, e in zip(ref, d)]}
    ratio = 0.1  # chosen so that both raw p fall between 0.025 and 0.05 (0.037, 0.032)
    t = ablation_table(_cv_obs(rows, seeds=1, ratio=ratio), order=["A", "B", "C"], metrics=[("accuracy", "Acc.")])
    for v in ("B", "C"):
        test = t.cell(v, "d1", "accuracy").test
        assert 0.025 < test.p < 0.05 and test.p_holm >= 0.05 and not test.significant, test
    assert "†" not in "\n".join(ablation_md(t).splitlines()[:5])


def test_seed_only_cells_keep_the_seed_tests() -> None:
    obs = [Observation(v, "d1", s, {"accuracy": x}) for v, xs in (("A", [0.8, 0.82, 0.81]), ("B", [0.9, 0.85, 0.88]),
                                                                ("C", [0.7, 0.75, 0.71])) for s, x in enumerate(xs)]
    t = ablation_table(obs, metrics=[("accuracy", "Acc.")])
    assert not t.cross_validated and t.cell("B", "d1", "accuracy").test.test == "paired-t"
    assert t.cell("B", "d1", "accuracy").test.p_holm is None
    assert "n = 3 seeds, test split" in t.footnote() and "Holm" not in t.footnote()
    assert set(t.long_rows()[0]) == {"variant", "dataset", "metric", "n", "mean", "std", "delta", "test", "p_value",
                                     "significant", "best", "values"}


def test_fold_rows_one_per_fold_trial_in_variant_order() -> None:
    obs = _cv_obs({"A": [0.8, 0.7, 0.9], "B": [0.6, 0.5, 0.4]}, seeds=1)
    rows = fold_rows(obs, ["B", "A"], [("accuracy", "Acc.")])
    assert [(r["variant"], r["fold"]) for r in rows] == [("B", 0), ("B", 1), ("B", 2), ("A", 0), ("A", 1), ("A", 2)]
    assert rows[0]["test subjects"] == "1" and rows[3]["Acc."] == 0.8


def _loso_scores() -> list[SubjectScore]:
    """LOSO on 4 subjects: fold f tests subject 10 + f; two variants, two seeds."""
    out = []
    for v, base in (("cnn", 0.8), ("usad", 0.7)):
        for seed in (0, 1):
            for fold in range(4):
                acc = base + 0.01 * fold + 0.02 * seed
                out.append(SubjectScore(v, "watch", seed, fold, 10 + fold, 100 + fold, acc, acc - 0.1))
    random.Random(1).shuffle(out)
    return out


def test_per_subject_table_loso_layout() -> None:
    rows = per_subject_rows(_loso_scores(), ["usad", "cnn"])
    assert [r["subject"] for r in rows] == [10, 11, 12, 13]  # every subject once, in id order
    assert [r["fold"] for r in rows] == ["0", "1", "2", "3"] and rows[2]["windows"] == 102
    assert list(rows[0])[4:] == ["usad: Acc.", "usad: F1", "cnn: Acc.", "cnn: F1"]
    for r, fold in zip(rows, range(4)):  # mean over the two seeds
        assert r["cnn: Acc."] == pytest.approx(0.8 + 0.01 * fold + 0.01)
        assert r["usad: F1"] == pytest.approx(0.7 + 0.01 * fold + 0.01 - 0.1)
    plot = subject_values(_loso_scores(), ["usad", "cnn"])
    assert list(plot["watch"]["F1"]) == ["usad", "cnn"] and len(plot["watch"]["Acc."]["cnn"]) == 4


def _fold_table(folds: int, variants: dict[str, float]) -> list[Observation]:
    rng = np.random.default_rng(3)
    return [Observation(v, "d1", 0, {"f1_macro": mu + rng.normal(0, 0.02)}, fold=f)
            for f in range(folds) for v, mu in variants.items()]


def test_ranks_over_folds_match_scipy_friedman_and_demsar_cd() -> None:
    obs = _fold_table(6, {"A": 0.9, "B": 0.8, "C": 0.7})
    t = ablation_table(obs, metrics=[("f1_macro", "F1")])
    ranking, note = rank_variants(t, "f1_macro")
    assert note == "" and ranking.blocks == "folds" and ranking.n_blocks == 6
    assert list(ranking.mean_ranks) == ["A", "B", "C"] and ranking.mean_ranks["A"] == pytest.approx(1.0)
    cols = [[o.metrics["f1_macro"] for o in sorted(obs, key=lambda o: o.fold) if o.variant == v] for v in "ABC"]
    assert ranking.friedman_p == pytest.approx(stats.friedmanchisquare(*cols).pvalue)
    # Demšar (2006): CD = q_0.05 * sqrt(k (k + 1) / (6 N)), q_0.05 = 2.343 for k = 3
    assert ranking.cd == pytest.approx(2.343 * math.sqrt(3 * 4 / (6 * 6)), rel=1e-3)
    assert "descriptive" in ranking.footnote() and "Friedman test p =" in ranking.footnote()
    assert [r["variant"] for r in ranking.rows()] == ["A", "B", "C"]


def test_ranks_over_datasets_use_cell_means() -> None:
    rng = np.random.default_rng(5)
    obs = [Observation(v, f"d{d}", s, {"f1_macro": mu + 0.01 * d + rng.normal(0, 0.01)})
           for d in range(5) for s in range(2) for v, mu in (("A", 0.7), ("B", 0.8), ("C", 0.75))]
    t = ablation_table(obs, metrics=[("f1_macro", "F1")])
    ranking, _ = rank_variants(t, "f1_macro")
    assert ranking.blocks == "datasets" and ranking.n_blocks == 5 and list(ranking.mean_ranks) == ["B", "C", "A"]
    means = {v: statistics.fmean(t.cell(v, f"d{d}", "f1_macro").mean for d in range(5)) for v in "ABC"}
    assert ranking.means == pytest.approx(means)


def test_ranks_say_why_not() -> None:
    few = ablation_table(_fold_table(3, {"A": 0.9, "B": 0.8, "C": 0.7}), metrics=[("f1_macro", "F1")])
    ranking, note = rank_variants(few, "f1_macro")
    assert ranking is None and "needs 5 or more blocks, this table has 3 (folds)" in note
    two = ablation_table(_fold_table(6, {"A": 0.9, "B": 0.8}), metrics=[("f1_macro", "F1")])
    assert "3 or more variants" in rank_variants(two, "f1_macro")[1]
    plain = ablation_table([Observation(v, "d1", s, {"f1_macro": 0.5}) for v in "ABC" for s in range(6)])
    assert rank_variants(plain, "f1_macro") == (None, "")  # one dataset, no folds: nothing to rank over


def test_mean_curve_keeps_steps_every_fold_reported() -> None:
    assert mean_curve([[(1, 0.2), (2, 0.4)], [(1, 0.4)], []]) == [(1, pytest.approx(0.3))]
    assert mean_curve([]) == []
