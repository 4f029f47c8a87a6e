"""The paired test of a Table 2 row against the reference row, across seeds (or folds).

Pairs are matched by seed: seed ``s`` of a variant against seed ``s`` of the reference, on the same
dataset. Which test runs depends on how many pairs there are:

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
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

WILCOXON_MIN_PAIRS = 6  # below this, Wilcoxon's exact two-sided p cannot fall under 0.05
ALPHA = 0.05


@dataclass(frozen=True)
class PairedTest:
    test: str  # "wilcoxon" | "paired-t" | "n/a"
    n: int  # pairs
    p: float  # nan when not computed

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p) and self.p < ALPHA


def paired_values(a: Mapping[int, float], b: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """The values of the seeds that both rows have, in seed order (seed -> value mappings)."""
    seeds = sorted(set(a) & set(b))
    return np.array([a[s] for s in seeds], float), np.array([b[s] for s in seeds], float)


def paired_test(a: Mapping[int, float], b: Mapping[int, float]) -> PairedTest:
    """Test ``a`` (a variant) against ``b`` (the reference), paired by seed."""
    from scipy import stats

    x, y = paired_values(a, b)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = len(x)
    if n < 2:
        return PairedTest("n/a", n, math.nan)
    if np.allclose(x - y, 0.0):
        return PairedTest("wilcoxon" if n >= WILCOXON_MIN_PAIRS else "paired-t", n, math.nan)
    if n >= WILCOXON_MIN_PAIRS:
        return PairedTest("wilcoxon", n, float(stats.wilcoxon(x, y).pvalue))
    return PairedTest("paired-t", n, float(stats.ttest_rel(x, y).pvalue))


def footnote_of_tests(tests: list[PairedTest]) -> str:
    """One sentence naming the tests that were used (and the assumption of the t-test)."""
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
