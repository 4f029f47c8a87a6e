"""The ablation table in the layout of the USAD paper's Table 2 (pure: numbers in, a table out).

Rows are the variants in spec order (the first row is the reference), column groups are the datasets,
and each group holds Acc, Pre, Rec, F1, G-mean and AUC. A cell is ``mean ± std`` over the seeds (sample
standard deviation, ddof = 1), in percent as in the paper; the best mean of each column is marked; every
other row shows Δ, its mean minus the first row's (percentage points), and a dagger when the paired test
across seeds (:mod:`hartune.report.stats`) gives p < 0.05.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hartune.report.stats import PairedTest, footnote_of_tests, paired_test

# (test metric key, column label) in the paper's order; all of them are higher-is-better.
TABLE2_METRICS: tuple[tuple[str, str], ...] = (
    ("accuracy", "Acc."), ("precision_macro", "Pre."), ("recall_macro", "Rec."),
    ("f1_macro", "F1"), ("gmean", "G-mean"), ("auc_macro", "AUC"),
)
# Which logged AUC fills the AUC column (``hartune report --auc``), and the footnote that says so.
AUC_COLUMN: dict[str, tuple[str, str]] = {
    "prob": ("auc_macro", "AUC: one-vs-rest ROC AUC of the predicted probabilities, macro mean."),
    "hard": ("auc_macro_hard", ("AUC: one-vs-rest AUC of the hard (argmax) predictions, (sensitivity + "
                                "specificity) / 2 per class, macro mean: the computation the USAD paper's AUC "
                                "column matches (within 0.1 point of its G-mean).")),
}


def table2_metrics(auc: str = "prob") -> tuple[tuple[str, str], ...]:
    """``TABLE2_METRICS`` with the AUC column read from the metric ``auc`` names (``AUC_COLUMN``)."""
    if auc not in AUC_COLUMN:
        raise ValueError(f"auc={auc!r}: accepted: {', '.join(AUC_COLUMN)}")
    return tuple((AUC_COLUMN[auc][0], label) if label == "AUC" else (key, label) for key, label in TABLE2_METRICS)


@dataclass(frozen=True)
class Observation:
    """One finished trial's test metrics (keys without the ``test_`` prefix)."""

    variant: str
    dataset: str
    seed: int
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class Cell:
    values: dict[int, float]  # seed -> value (fraction, not percent)
    mean: float
    std: float  # nan with fewer than 2 values
    delta: float  # mean - the reference row's mean; 0 on the reference row
    test: PairedTest
    best: bool = False

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass
class AblationTable:
    variants: list[str]
    datasets: list[str]
    metrics: list[tuple[str, str]]
    cells: dict[tuple[str, str, str], Cell]  # (variant, dataset, metric key)
    percent: bool = True
    title: str = ""
    notes: list[str] = field(default_factory=list)

    def cell(self, variant: str, dataset: str, metric: str) -> Cell | None:
        return self.cells.get((variant, dataset, metric))

    def footnote(self) -> str:
        unit = "percent" if self.percent else "fractions"
        seeds = sorted({c.n for c in self.cells.values()})
        tests = [c.test for (v, _, _), c in self.cells.items() if v != self.variants[0]]
        return (f"mean ± std (sample, ddof=1) over n = {'/'.join(map(str, seeds))} seeds, test split, in {unit}; "
                f"best mean of each column in bold; (Δ) = mean minus the first row's ({self.variants[0]}). "
                + footnote_of_tests(tests))

    def long_rows(self) -> list[dict[str, object]]:
        """Every cell as one flat row (machine-readable: ``*_long.csv``)."""
        return [
            {"variant": v, "dataset": d, "metric": m, "n": c.n, "mean": c.mean, "std": c.std, "delta": c.delta,
             "test": c.test.test, "p_value": c.test.p, "significant": c.test.significant, "best": c.best,
             "values": ";".join(f"{s}:{x:.6g}" for s, x in sorted(c.values.items()))}
            for (v, d, m), c in self.cells.items()
        ]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.array([v for v in values if not math.isnan(v)], float)
    if len(arr) == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else math.nan


def first_seen(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def ablation_table(
    observations: Iterable[Observation], order: Sequence[str] | None = None,
    metrics: Sequence[tuple[str, str]] = TABLE2_METRICS, percent: bool = True, title: str = "",
) -> AblationTable:
    """Build the table. ``order`` lists the variants (spec order); variants it omits follow in
    first-seen order, and listed variants without observations are dropped."""
    obs = list(observations)
    seen = first_seen(o.variant for o in obs)
    variants = [v for v in (order or []) if v in seen] + [v for v in seen if v not in (order or [])]
    datasets = first_seen(o.dataset for o in obs)
    values: dict[tuple[str, str, str], dict[int, float]] = {}
    for o in obs:
        for key, _ in metrics:
            x = o.metrics.get(key)
            if isinstance(x, (int, float)):
                values.setdefault((o.variant, o.dataset, key), {})[o.seed] = float(x)
    cells: dict[tuple[str, str, str], Cell] = {}
    for d in datasets:
        for key, _ in metrics:
            ref = values.get((variants[0], d, key), {})
            ref_mean, _ = _mean_std(list(ref.values()))
            for v in variants:
                vals = values.get((v, d, key))
                if not vals:
                    continue
                mean, std = _mean_std(list(vals.values()))
                test = PairedTest("n/a", 0, math.nan) if v == variants[0] else paired_test(vals, ref)
                cells[(v, d, key)] = Cell(vals, mean, std, mean - ref_mean, test)
            column = [cells[(v, d, key)] for v in variants if (v, d, key) in cells]
            top = max((c.mean for c in column if not math.isnan(c.mean)), default=math.nan)
            for v in variants:
                c = cells.get((v, d, key))
                if c is not None and not math.isnan(top) and math.isclose(c.mean, top, rel_tol=0, abs_tol=1e-12):
                    cells[(v, d, key)] = Cell(c.values, c.mean, c.std, c.delta, c.test, best=True)
    return AblationTable(variants, datasets, list(metrics), cells, percent, title)


# -- text of a cell, shared by every writer ---------------------------------------------------------
def number(x: float, percent: bool) -> str:
    if math.isnan(x):
        return "n/a"
    return f"{100 * x:.2f}" if percent else f"{x:.4f}"


def mean_std_text(c: Cell, percent: bool) -> str:
    """``mean ± std`` (``mean ± n/a`` with one seed)."""
    return f"{number(c.mean, percent)} ± {number(c.std, percent)}"


def delta_text(c: Cell, percent: bool, reference: bool) -> str:
    """``(+1.23)`` and a dagger when significant; empty on the reference row."""
    if reference or math.isnan(c.delta):
        return ""
    d = f"{100 * c.delta:+.2f}" if percent else f"{c.delta:+.4f}"
    return f"({d}){'†' if c.test.significant else ''}"
