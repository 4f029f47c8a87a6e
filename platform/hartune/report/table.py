"""The ablation table in the layout of the USAD paper's Table 2 (pure: numbers in, a table out).

Rows are the variants in spec order (the first row is the reference, unless ``reference`` names
another), column groups are the datasets, and each group holds Acc, Pre, Rec, F1, G-mean and AUC.
Table 3 (``TABLE3_METRICS``), Table 4 and Table 6 (:mod:`hartune.report.comparison`) are the same table
with other columns: a metric in ``lower_is_better`` (Table 6's intra-class distance) marks its lowest
mean as the best. A cell is ``mean ± std`` over the seeds (sample
standard deviation, ddof = 1), in percent as in the paper; the best mean of each column is marked; every
other row shows Δ, its mean minus the reference row's (percentage points), and a dagger when the paired test
across seeds (:mod:`hartune.report.stats`) gives p < 0.05.

On a cross-validation axis a cell holds one value per (seed, fold): its mean ± std is over folds × seeds,
pairs are matched by (seed, fold), the test is the corrected resampled t-test and the dagger reads its
Holm-adjusted p (over the rows against the reference in that column). Seed-only cells are as above.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from hartune.report.stats import PairedTest, cv_paired_test, footnote_of_tests, holm, paired_test

# (test metric key, column label) in the paper's order; all of them are higher-is-better.
TABLE2_METRICS: tuple[tuple[str, str], ...] = (
    ("accuracy", "Acc."), ("precision_macro", "Pre."), ("recall_macro", "Rec."),
    ("f1_macro", "F1"), ("gmean", "G-mean"), ("auc_macro", "AUC"),
)
TABLE3_METRICS: tuple[tuple[str, str], ...] = (("accuracy", "Acc."), ("f1_macro", "F1"))  # Table 3's columns
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
    """One finished trial's test metrics (keys without the ``test_`` prefix). A fold trial also says its
    fold, its test subjects and its test/train window ratio (the corrected t-test's n_test/n_train)."""

    variant: str
    dataset: str
    seed: int
    metrics: Mapping[str, float]
    fold: int | None = None
    test_subjects: tuple[int, ...] = ()
    test_train_ratio: float = math.nan


Key = tuple[int, int | None]  # (seed, fold); fold None off a cross-validation axis


@dataclass(frozen=True)
class Cell:
    values: dict[Key, float]  # (seed, fold) -> value (fraction, not percent)
    mean: float
    std: float  # nan with fewer than 2 values
    delta: float  # mean - the reference row's mean; 0 on the reference row
    test: PairedTest
    best: bool = False

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def cross_validated(self) -> bool:
        return any(f is not None for _, f in self.values)

    def design(self) -> str:
        """``3 seeds``, or on a fold axis ``5 folds × 2 seeds``."""
        seeds = len({s for s, _ in self.values})
        if not self.cross_validated:
            return f"{seeds} seeds"
        folds = len({f for _, f in self.values})
        text = f"{folds} folds × {seeds} seed{'s' if seeds != 1 else ''}"
        return text if folds * seeds == self.n else f"{text} ({self.n} finished)"

    def seed_values(self) -> dict[int, float]:
        """Seed -> value (off a fold axis, one value per seed)."""
        return {s: x for (s, _), x in self.values.items()}


@dataclass
class AblationTable:
    variants: list[str]
    datasets: list[str]
    metrics: list[tuple[str, str]]
    cells: dict[tuple[str, str, str], Cell]  # (variant, dataset, metric key)
    percent: bool = True
    title: str = ""
    notes: list[str] = field(default_factory=list)
    reference: str = ""  # the row Δ and the tests compare with; "" = the first row
    lower_is_better: frozenset[str] = frozenset()  # metric keys whose lowest mean is the column's best
    unit: str = ""  # the footnote's unit; "" = percent or fractions

    @property
    def reference_row(self) -> str:
        return self.reference or self.variants[0]

    def cell(self, variant: str, dataset: str, metric: str) -> Cell | None:
        return self.cells.get((variant, dataset, metric))

    @property
    def cross_validated(self) -> bool:
        return any(c.cross_validated for c in self.cells.values())

    def footnote(self) -> str:
        unit = self.unit or ("percent" if self.percent else "fractions")
        tests = [c.test for (v, _, _), c in self.cells.items() if v != self.reference_row]
        if self.cross_validated:
            designs = first_seen(c.design() for c in self.cells.values())
            over = f"n = {' / '.join(designs)}, test split of each fold (its held-out subjects)"
        else:
            seeds = sorted({c.n for c in self.cells.values()})
            over = f"n = {'/'.join(map(str, seeds))} seeds, test split"
        first = self.reference_row == self.variants[0]
        which = "the first row's" if first else "the reference row's"
        tested = footnote_of_tests(tests) if first else footnote_of_tests(tests).replace("the first row", "the reference row")
        lowest = f" (lowest for {', '.join(sorted(self.lower_is_better))})" if self.lower_is_better else ""
        return (f"mean ± std (sample, ddof=1) over {over}, in {unit}; "
                f"best mean of each column{lowest} in bold; (Δ) = mean minus {which} ({self.reference_row}). "
                + tested)

    def long_rows(self) -> list[dict[str, object]]:
        """Every cell as one flat row (machine-readable: ``*_long.csv``)."""
        return [
            {"variant": v, "dataset": d, "metric": m, "n": c.n, "mean": c.mean, "std": c.std, "delta": c.delta,
             "test": c.test.test, "p_value": c.test.p, "significant": c.test.significant, "best": c.best,
             "values": _values_text(c)}
            | ({"p_holm": c.test.p_holm, "design": c.design()} if self.cross_validated else {})
            for (v, d, m), c in self.cells.items()
        ]


def _values_text(c: Cell) -> str:
    """``seed:value;...``, on a fold axis ``s<seed>f<fold>:value;...``."""
    if not c.cross_validated:
        return ";".join(f"{s}:{x:.6g}" for s, x in sorted(c.seed_values().items()))
    order = sorted(c.values, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
    return ";".join(f"s{s}f{f}:{c.values[(s, f)]:.6g}" for s, f in order)


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
    reference: str | None = None, lower_is_better: Iterable[str] = (),
) -> AblationTable:
    """Build the table. ``order`` lists the variants (spec order); variants it omits follow in
    first-seen order, and listed variants without observations are dropped. ``reference`` is the row
    the others are compared with (default, or when it has no observation: the first row)."""
    obs = list(observations)
    seen = first_seen(o.variant for o in obs)
    variants = [v for v in (order or []) if v in seen] + [v for v in seen if v not in (order or [])]
    datasets = first_seen(o.dataset for o in obs)
    ref_row = reference if reference in variants else variants[0]
    lower = frozenset(lower_is_better)
    values: dict[tuple[str, str, str], dict[Key, float]] = {}
    for o in obs:
        for key, _ in metrics:
            x = o.metrics.get(key)
            if isinstance(x, (int, float)):
                values.setdefault((o.variant, o.dataset, key), {})[(o.seed, o.fold)] = float(x)
    ratios = test_train_ratios(obs)
    cells: dict[tuple[str, str, str], Cell] = {}
    for d in datasets:
        for key, _ in metrics:
            ref = values.get((ref_row, d, key), {})
            ref_mean, _ = _mean_std(list(ref.values()))
            for v in variants:
                vals = values.get((v, d, key))
                if not vals:
                    continue
                mean, std = _mean_std(list(vals.values()))
                test = PairedTest("n/a", 0, math.nan) if v == ref_row else row_test(vals, ref, ratios, v, ref_row, d)
                cells[(v, d, key)] = Cell(vals, mean, std, mean - ref_mean, test)
            holm_column(cells, [(v, d, key) for v in variants if v != ref_row])
            column = [cells[(v, d, key)] for v in variants if (v, d, key) in cells]
            pick = min if key in lower else max
            top = pick((c.mean for c in column if not math.isnan(c.mean)), default=math.nan)
            for v in variants:
                c = cells.get((v, d, key))
                if c is not None and not math.isnan(top) and math.isclose(c.mean, top, rel_tol=0, abs_tol=1e-12):
                    cells[(v, d, key)] = replace(c, best=True)
    return AblationTable(variants, datasets, list(metrics), cells, percent, title,
                         reference="" if ref_row == variants[0] else ref_row, lower_is_better=lower)


def test_train_ratios(obs: Sequence[Observation]) -> dict[tuple[str, str], float]:
    """(variant, dataset) -> the mean test/train window ratio of its fold trials (nan if none says)."""
    out: dict[tuple[str, str], list[float]] = {}
    for o in obs:
        if o.fold is not None and not math.isnan(o.test_train_ratio):
            out.setdefault((o.variant, o.dataset), []).append(o.test_train_ratio)
    return {k: float(np.mean(v)) for k, v in out.items()}


def row_test(vals: dict[Key, float], ref: dict[Key, float], ratios: Mapping[tuple[str, str], float],
             variant: str, reference: str, dataset: str) -> PairedTest:
    """A row's test against the reference: across seeds (:func:`paired_test`), or on a fold axis the
    corrected resampled t-test paired by (seed, fold), with n_test/n_train the mean of the two rows'
    ratios (1/(k - 1) for k folds when no trial logged its window counts)."""
    if not any(f is not None for _, f in vals):
        return paired_test({s: x for (s, _), x in vals.items()}, {s: x for (s, _), x in ref.items()})
    logged = [r for r in (ratios.get((variant, dataset)), ratios.get((reference, dataset))) if r is not None]
    k = len({f for _, f in vals})
    ratio = float(np.mean(logged)) if logged else 1.0 / max(k - 1, 1)
    return cv_paired_test(vals, ref, ratio)


def holm_column(cells: dict[tuple[str, str, str], Cell], keys: Sequence[tuple[str, str, str]]) -> None:
    """Holm-adjust the corrected t-tests of one column's rows against the reference, in place."""
    tested = [k for k in keys if k in cells and cells[k].test.test == "corrected-t"]
    for k, p in zip(tested, holm([cells[k].test.p for k in tested])):
        c = cells[k]
        cells[k] = replace(c, test=replace(c.test, p_holm=p))


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
