"""The paired test of a Table 2 row against the reference row, across seeds or cross-validation folds.

Pairs are matched by seed, or on a fold axis by (fold, seed): seed ``s`` (fold ``f``) of a variant
against the same of the reference, on the same dataset.

Across folds (:func:`cv_paired_test`): the two-sided corrected resampled t-test of Nadeau & Bengio
(2003), in its repeated cross-validation form (Bouckaert & Frank 2004), over the J (fold, seed) pairs.
Fold scores share training subjects, so they are correlated and a plain paired t-test over them is
overconfident; the correction inflates the variance by the test/train size ratio. With several rows
against one reference, each column's p-values are Holm-adjusted (:func:`holm`) and the dagger reads
the adjusted p.

Across seeds only (a hold-out split), which test runs depends on how many pairs there are:

* ``n >= 6``: two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon``; exact null distribution
  when scipy chooses it). No distributional assumption, but with fewer than 6 pairs its smallest
  attainable two-sided p-value is ``2 / 2**n >= 0.0625``: it could never reach p < 0.05.
* ``2 <= n < 6``: two-sided paired t-test (``scipy.stats.ttest_rel``). It assumes that the paired
  differences are normally distributed, which a handful of seeds cannot check: read its p-value as
  indicative.
* ``n < 2``: no test ("n/a").

Identical pairs (every difference zero) give p = nan: no evidence of a difference either way.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

WILCOXON_MIN_PAIRS = 6  # below this, Wilcoxon's exact two-sided p cannot fall under 0.05
ALPHA = 0.05


@dataclass(frozen=True)
class PairedTest:
    test: str  # "wilcoxon" | "paired-t" | "corrected-t" | "n/a"
    n: int  # pairs
    p: float  # nan when not computed
    p_holm: float | None = None  # Holm-adjusted within its column; None where no adjustment was made
    test_train_ratio: float = math.nan  # corrected-t only: the n_test / n_train it used

    @property
    def significant(self) -> bool:
        p = self.p if self.p_holm is None else self.p_holm
        return not math.isnan(p) and p < ALPHA


def paired_values(a: Mapping[Hashable, float], b: Mapping[Hashable, float]) -> tuple[np.ndarray, np.ndarray]:
    """The values of the keys (seeds, or (seed, fold) pairs) that both rows have, in key order."""
    keys = sorted(set(a) & set(b), key=repr)  # any consistent order: the tests only need the pairing
    return np.array([a[k] for k in keys], float), np.array([b[k] for k in keys], float)


def _finite_pairs(a: Mapping[Hashable, float], b: Mapping[Hashable, float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = paired_values(a, b)
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def paired_test(a: Mapping[int, float], b: Mapping[int, float]) -> PairedTest:
    """Test ``a`` (a variant) against ``b`` (the reference), paired by seed."""
    from scipy import stats

    x, y = _finite_pairs(a, b)
    n = len(x)
    if n < 2:
        return PairedTest("n/a", n, math.nan)
    if np.allclose(x - y, 0.0):
        return PairedTest("wilcoxon" if n >= WILCOXON_MIN_PAIRS else "paired-t", n, math.nan)
    if n >= WILCOXON_MIN_PAIRS:
        return PairedTest("wilcoxon", n, float(stats.wilcoxon(x, y).pvalue))
    return PairedTest("paired-t", n, float(stats.ttest_rel(x, y).pvalue))


def corrected_resampled_t(d: Sequence[float], test_train_ratio: float) -> tuple[float, int, float]:
    """The corrected resampled t-test of Nadeau & Bengio (2003, "Inference for the generalization
    error", Machine Learning 52: 239-281), as Bouckaert & Frank (2004) apply it to repeated k-fold
    cross-validation: over the J paired differences ``d`` (one per fold and seed),

        t = mean(d) / sqrt((1/J + n_test/n_train) * var(d)),   df = J - 1,

    ``var`` the sample variance (ddof = 1) and ``n_test/n_train`` the test/train size ratio of a fold.
    The plain paired t-test has ``1/J`` alone: it ignores that folds share training data. Returns
    (t, df, two-sided p); nan under 2 differences or when every difference is zero, p = 0 when they are
    all equal and nonzero (an infinite t, as ``scipy.stats.ttest_rel`` gives).
    """
    from scipy import stats

    arr = np.asarray(d, float)
    j = len(arr)
    if j < 2 or np.allclose(arr, 0.0):
        return math.nan, max(j - 1, 0), math.nan
    mean, var = float(arr.mean()), float(arr.var(ddof=1))
    if np.allclose(arr, mean, rtol=0.0, atol=1e-12):  # equal differences (up to rounding): var is 0
        return math.copysign(math.inf, mean), j - 1, 0.0
    t = mean / math.sqrt((1.0 / j + test_train_ratio) * var)
    return t, j - 1, float(2.0 * stats.t.sf(abs(t), j - 1))


def cv_paired_test(a: Mapping[Hashable, float], b: Mapping[Hashable, float], test_train_ratio: float) -> PairedTest:
    """Test ``a`` (a variant) against ``b`` (the reference), paired by (seed, fold), with the corrected
    resampled t-test (:func:`corrected_resampled_t`)."""
    x, y = _finite_pairs(a, b)
    if len(x) < 2:
        return PairedTest("n/a", len(x), math.nan)
    _, _, p = corrected_resampled_t(x - y, test_train_ratio)
    return PairedTest("corrected-t", len(x), p, test_train_ratio=test_train_ratio)


def holm(p: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjustment of m p-values (nan ones are left out of m and stay nan):
    sorted ascending, ``p_adj(i) = max over k <= i of min(1, (m - k + 1) * p(k))``. Rejecting where
    ``p_adj < alpha`` keeps the family-wise error rate at alpha."""
    order = sorted((i for i, x in enumerate(p) if not math.isnan(x)), key=lambda i: p[i])
    out, running = [math.nan] * len(p), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - k) * p[i]))
        out[i] = running
    return out


def footnote_of_tests(tests: list[PairedTest]) -> str:
    """One sentence naming the tests that were used (and the assumption of the t-test)."""
    corrected = [t for t in tests if t.test == "corrected-t"]
    seeds_only = [t for t in tests if t.test != "corrected-t"]
    if not corrected:
        return _footnote_of_seed_tests(seeds_only)
    rest = _footnote_of_seed_tests(seeds_only) if {t.test for t in seeds_only} - {"n/a"} else ""
    return (_footnote_of_cv_tests(corrected) + (" " + rest if rest else "")).strip()


def _footnote_of_cv_tests(tests: list[PairedTest]) -> str:
    js = sorted({t.n for t in tests})
    ratios = sorted({round(t.test_train_ratio, 3) for t in tests})
    holm_used = any(t.p_holm is not None for t in tests)
    dagger = (f"† Holm-adjusted p < {ALPHA:g} (Holm 1979, over the rows compared with the first row in each "
              "column)" if holm_used else f"† p < {ALPHA:g}")
    return (f"{dagger} against the first row, pairs matched by (fold, seed): two-sided corrected resampled "
            f"t-test (Nadeau & Bengio 2003) over J = {'/'.join(map(str, js))} pairs, "
            "t = mean(d) / sqrt((1/J + n_test/n_train) · var(d)), df = J − 1, with n_test/n_train = "
            f"{'/'.join(f'{r:g}' for r in ratios)} (test/train windows, mean over the folds); fold scores "
            "share training subjects, so a plain paired t-test over them would be overconfident.")


def _footnote_of_seed_tests(tests: list[PairedTest]) -> str:
    used = {t.test for t in tests}
    parts = []
    if "paired-t" in used:
        parts.append(f"two-sided paired t-test across seeds (fewer than {WILCOXON_MIN_PAIRS} pairs; it assumes "
                     "normally distributed paired differences, which so few seeds cannot check)")
    if "wilcoxon" in used:
        parts.append(f"two-sided Wilcoxon signed-rank test across seeds ({WILCOXON_MIN_PAIRS} pairs or more)")
    if not parts:
        return "no paired test: fewer than 2 seeds per cell (n/a)."
    return f"† p < {ALPHA:g} against the first row, pairs matched by seed: " + "; ".join(parts) + "."
