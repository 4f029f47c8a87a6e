"""Cross-validation tables and ranks (pure: numbers in, rows out).

* :func:`fold_rows`: the per-fold table, one row per fold trial (variant, dataset, seed, fold, its test
  subjects) with the Table 2 metrics.
* :func:`per_subject_rows`: one row per subject, each variant's accuracy and F1 on that subject's windows
  (mean over seeds). Every subject is in the test split of exactly one fold per seed, for k-fold and
  LOSO alike, so the table covers every subject once; a subject tested in more than one fold of a seed
  (variants splitting differently) is averaged, and its ``fold`` column lists them.
* :func:`rank_variants`: the variants ranked by Friedman's test with the Nemenyi post-hoc test and its
  critical difference (Demšar 2006, "Statistical comparisons of classifiers over multiple data sets",
  JMLR 7: 1-30), computed by ``autorank``. Blocks are the datasets when the table has two or more
  (Demšar's setting); a single cross-validated dataset uses its folds as blocks (each fold's held-out
  subjects as a data set of their own). Folds share training subjects, so they are not the independent
  data sets the test assumes: the footnote says to read those ranks as descriptive.
* :func:`mean_curve`: a search point's per-epoch curve, the mean over its folds.
"""

from __future__ import annotations

import contextlib
import io
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hartune.report.stats import ALPHA
from hartune.report.table import AblationTable, Observation, first_seen

SUBJECT_METRICS: tuple[tuple[str, str], ...] = (("accuracy", "Acc."), ("f1_macro", "F1"))
MIN_BLOCKS = 5  # autorank refuses fewer measurements (rows) than this
MIN_VARIANTS = 3  # Friedman + Nemenyi compare three or more; two are the paired test's job


@dataclass(frozen=True)
class SubjectScore:
    """One test subject's scores in one fold trial (a row of its ``per_subject.json``)."""

    variant: str
    dataset: str
    seed: int
    fold: int | None
    subject: int
    windows: int
    accuracy: float
    f1_macro: float


def _mean(values: Iterable[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return statistics.fmean(vals) if vals else math.nan


def _ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    seen = first_seen(names)
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def fold_rows(obs: Sequence[Observation], order: Sequence[str], metrics: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The per-fold table: variants in ``order``, then dataset, seed and fold; metric values as fractions."""
    rank = {v: i for i, v in enumerate(_ordered((o.variant for o in obs), order))}
    datasets = {d: i for i, d in enumerate(first_seen(o.dataset for o in obs))}
    rows = []
    for o in sorted(obs, key=lambda o: (rank[o.variant], datasets[o.dataset], o.seed, -1 if o.fold is None else o.fold)):
        rows.append({"variant": o.variant, "dataset": o.dataset, "seed": o.seed, "fold": o.fold,
                     "test subjects": ",".join(map(str, o.test_subjects)),
                     **{label: o.metrics.get(key, math.nan) for key, label in metrics}})
    return rows


def with_mean_std(rows: Sequence[dict[str, Any]], columns: Sequence[str], label_column: str) -> list[dict[str, Any]]:
    """``rows`` followed by a ``mean`` and a ``std`` row (sample, ddof = 1) over ``columns``."""
    out = list(rows)
    for name, f in (("mean", statistics.fmean), ("std", statistics.stdev)):
        row: dict[str, Any] = {label_column: name}
        for c in columns:
            vals = [r[c] for r in rows if isinstance(r.get(c), (int, float)) and not math.isnan(r[c])]
            row[c] = f(vals) if len(vals) >= (2 if name == "std" else 1) else math.nan
        out.append(row)
    return out


def per_subject_rows(scores: Sequence[SubjectScore], order: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (dataset, subject): the fold(s) that test it, its windows, and per variant its
    accuracy and F1 (``<variant>: Acc.``, ``<variant>: F1``; fractions, mean over seeds)."""
    variants = _ordered((s.variant for s in scores), order)
    by_subject: dict[tuple[str, int], list[SubjectScore]] = {}
    for s in scores:
        by_subject.setdefault((s.dataset, s.subject), []).append(s)
    datasets = {d: i for i, d in enumerate(first_seen(s.dataset for s in scores))}
    rows = []
    for (d, subject), got in sorted(by_subject.items(), key=lambda kv: (datasets[kv[0][0]], kv[0][1])):
        folds = sorted({s.fold for s in got if s.fold is not None})
        row: dict[str, Any] = {"dataset": d, "subject": subject, "fold": "/".join(map(str, folds)),
                               "windows": max(s.windows for s in got)}
        for v in variants:
            mine = [s for s in got if s.variant == v]
            for key, label in SUBJECT_METRICS:
                row[f"{v}: {label}"] = _mean(getattr(s, key) for s in mine)
        rows.append(row)
    return rows


def subject_values(scores: Sequence[SubjectScore], order: Sequence[str]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """For the per-subject plot: dataset -> metric label -> variant -> one value per subject (its mean
    over seeds)."""
    rows = per_subject_rows(scores, order)
    variants = _ordered((s.variant for s in scores), order)
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for r in rows:
        for _, label in SUBJECT_METRICS:
            for v in variants:
                x = r[f"{v}: {label}"]
                if not math.isnan(x):
                    out.setdefault(r["dataset"], {}).setdefault(label, {}).setdefault(v, []).append(x)
    return out


@dataclass(frozen=True)
class Ranking:
    """Friedman + Nemenyi over the blocks of one metric (rank 1 = best)."""

    metric: str  # the column label ranked (F1, ...)
    blocks: str  # "datasets" | "folds"
    n_blocks: int
    mean_ranks: dict[str, float]  # variant -> mean rank, best first
    means: dict[str, float]  # variant -> mean of its block values
    friedman_p: float
    cd: float  # Nemenyi's critical difference at ALPHA
    result: Any  # autorank's RankResult (its CD diagram is drawn from it)

    def rows(self) -> list[dict[str, Any]]:
        return [{"variant": v, "mean rank": r, f"mean {self.metric}": self.means[v]} for v, r in self.mean_ranks.items()]

    def footnote(self) -> str:
        verdict = "the ranks differ" if self.friedman_p < ALPHA else "no evidence that the ranks differ"
        text = (f"Mean ranks by {self.metric} over {self.n_blocks} {self.blocks} as blocks (rank 1 = best; Demšar 2006): "
                f"Friedman test p = {self.friedman_p:.3g} ({verdict} at α = {ALPHA:g}); Nemenyi critical difference "
                f"CD = {self.cd:.3f}: variants whose mean ranks differ by less than CD are not significantly "
                "different (joined by a bar in cd_diagram.png). Computed with autorank (Friedman + Nemenyi forced).")
        if self.blocks == "folds":
            text += (" The blocks are the folds of one dataset (its held-out subject groups); folds share training "
                     "subjects, so they are not independent data sets as the test assumes: read the ranks as descriptive.")
        return text


def rank_blocks(table: AblationTable, metric: str) -> tuple[str, dict[str, dict[str, float]]] | None:
    """The blocks to rank over, ``(kind, {block: {variant: value}})``: the datasets (each cell's mean)
    when there are two or more, else the folds of a cross-validated dataset (each fold's mean over
    seeds); None for a single dataset without folds."""
    if len(table.datasets) >= 2:
        return "datasets", {d: {v: c.mean for v in table.variants if (c := table.cell(v, d, metric)) is not None
                                and not math.isnan(c.mean)} for d in table.datasets}
    if not table.cross_validated:
        return None
    (d,) = table.datasets
    blocks: dict[str, dict[str, list[float]]] = {}
    for v in table.variants:
        c = table.cell(v, d, metric)
        for (_, fold), x in (c.values.items() if c is not None else ()):
            if not math.isnan(x):
                blocks.setdefault(f"fold {fold}", {}).setdefault(v, []).append(x)
    return "folds", {b: {v: statistics.fmean(xs) for v, xs in got.items()} for b, got in sorted(blocks.items())}


def rank_variants(table: AblationTable, metric: str) -> tuple[Ranking | None, str]:
    """The ranking of ``table``'s variants by ``metric`` (a metric key of the table), or None and a note
    saying why not (fewer than 3 variants, or fewer than 5 complete blocks: autorank's minimum). A
    single dataset without folds is not ranked (empty note)."""
    import pandas as pd

    picked = rank_blocks(table, metric)
    if picked is None:
        return None, ""
    kind, blocks = picked
    label = dict(table.metrics).get(metric, metric)
    if len(table.variants) < MIN_VARIANTS:
        return None, (f"Friedman/Nemenyi ranks not computed: they compare {MIN_VARIANTS} or more variants; "
                      f"this table has {len(table.variants)} (the paired test above covers two).")
    complete = {b: vals for b, vals in blocks.items() if all(v in vals for v in table.variants)}
    left = len(blocks) - len(complete)
    dropped = f" ({left} left out: not every variant has a value there)" if left else ""
    if len(complete) < MIN_BLOCKS:
        return None, (f"Friedman/Nemenyi ranks and the critical-difference diagram not computed: autorank needs "
                      f"{MIN_BLOCKS} or more blocks, this table has {len(complete)} ({kind}){dropped}.")
    data = pd.DataFrame([[vals[v] for v in table.variants] for vals in complete.values()], columns=table.variants)
    from autorank import autorank

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # autorank prints its forced choice of test
            result = autorank(data, alpha=ALPHA, order="descending", force_mode="nonparametric")
    except (ValueError, ZeroDivisionError, FloatingPointError) as e:
        return None, f"Friedman/Nemenyi ranks not computed: autorank could not decide ({e})."
    ranks = {str(v): float(r) for v, r in sorted(result.rankdf["meanrank"].items(), key=lambda kv: kv[1])}
    means = {v: float(data[v].mean()) for v in table.variants}
    return Ranking(label, kind, len(complete), ranks, means, float(result.pvalue), float(result.cd), result), ""


def mean_curve(curves: Sequence[Sequence[tuple[int, float]]]) -> list[tuple[int, float]]:
    """The mean over folds, at each step that every fold reported (a search point's intermediate values)."""
    maps: list[Mapping[int, float]] = [dict(c) for c in curves if c]
    if not maps:
        return []
    steps = sorted(set.intersection(*(set(m) for m in maps)))
    return [(s, statistics.fmean(m[s] for m in maps)) for s in steps]
