"""``hartune report``: one folder per stage with the Table 2-style ablation table, search reports and
per-model figures, also logged as artifacts of the stage's run (``report/``). A ``comparison`` stage gets
Table 3 in Table 2's place, then Tables 4 and 6 (:mod:`hartune.report.comparison`), all three printed.

On a cross-validation axis a grid also gets the per-fold table (``folds``), the per-subject table and
plot (``per_subject``) and, with 3 or more variants over 5 or more blocks, the Friedman/Nemenyi ranks
(``ranks``, ``cd_diagram.png``; see :mod:`hartune.report.cv`); a search is read one point (group run) per
Optuna trial, valued at its fold mean, with the best point's per-fold table (``best_point_folds``).

Reads the run tree through :class:`~hartune.tracking.runs.RunTree` (the reader ``promote`` and ``ls`` use
too); the tables and figures come from the pure modules beside this one. Every file is written in ``md``, ``csv``, ``tex`` and ``html`` where it is
a table; ``--format`` picks what is printed.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hartune.report import comparison as CMP
from hartune.report import cv as CV
from hartune.report import search as S
from hartune.report.page import write_page
from hartune.report.table import (
    AUC_COLUMN,
    TABLE3_METRICS,
    AblationTable,
    Observation,
    ablation_table,
    table2_metrics,
)
from hartune.report.writers import ABLATION_WRITERS, FORMATS, ROWS_WRITERS, rows_md
from hartune.tracking.runs import RunRef, RunTree, TrialRecord, param_key

DEPLOY_COLUMNS = {  # Table 5 (deploy_* metric -> column)
    "deploy_num_parameters": "params", "deploy_size_on_disk_bytes": "size (bytes)",
    "deploy_peak_memory_bytes": "peak memory (bytes)", "deploy_latency_median_ms": "latency median (ms)",
    "deploy_latency_p95_ms": "latency p95 (ms)", "deploy_time_100_windows_ms": "100 windows (ms)",
    "deploy_threads": "threads", "deploy_realtime_pass": "real-time pass",
}
RANK_METRIC = "f1_macro"  # Friedman/Nemenyi rank the variants by test F1, the paper's headline metric
TOP_POINTS = 3  # a cross-validated search's per-subject table: the best point and its runners-up


@dataclass
class StageReport:
    stage: str
    kind: str
    run_id: str
    folder: Path
    main: dict[str, str]  # format -> the main table's text
    tables: dict[str, AblationTable] = field(default_factory=dict)  # group -> ablation table
    notes: list[str] = field(default_factory=list)


class Folder:
    """Where a stage's report goes; remembers what it wrote."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def text(self, rel: str, text: str) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def figure(self, rel: str, fig: Any) -> None:
        import matplotlib.pyplot as plt

        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)

    def rows(self, stem: str, rows: Sequence[dict[str, Any]], title: str = "") -> None:
        for fmt in FORMATS:
            self.text(f"{stem}.{fmt}", ROWS_WRITERS[fmt](rows, title) if rows else "")


def safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip("_") or "_"


def stage_metric(params: dict[str, str]) -> tuple[str, str]:
    """The metric and mode that rank the stage's trials (the first of a multi-objective search)."""
    metric, mode = S._value(params.get("stage.metric", "val_f1_macro")), S._value(params.get("stage.mode", "max"))
    return (metric[0] if isinstance(metric, list) else metric), (mode[0] if isinstance(mode, list) else mode)


def variant_order(spec: dict[str, Any] | None, stage: str, params: dict[str, str], trials: Sequence[TrialRecord]) -> list[str]:
    """Variants in spec order: the spec's ``variants`` mapping, else the stage run's ``stage.variants.*``
    params, else first-seen (start) order."""
    names = list(dict.fromkeys(t.variant for t in sorted(trials, key=lambda t: t.start_time)))
    for st in (spec or {}).get("stages", []) or []:
        if isinstance(st, dict) and st.get("name") == stage and isinstance(st.get("variants"), dict):
            return [v for v in st["variants"] if v in names] + [v for v in names if v not in st["variants"]]
    by_key = {param_key(v): v for v in names}
    ordered = []
    for key in params:
        rest = key.removeprefix("stage.variants.")
        for k, v in by_key.items():
            if key.startswith("stage.variants.") and rest.startswith(f"{k}.") and v not in ordered:
                ordered.append(v)
    return ordered + [v for v in names if v not in ordered]


def best_per_variant(trials: Sequence[TrialRecord], metric: str, mode: str) -> dict[str, TrialRecord]:
    sign = 1.0 if mode == "max" else -1.0
    best: dict[str, TrialRecord] = {}
    for t in trials:
        v = S.trial_value(t, metric)
        if not t.finished or v is None:
            continue
        cur = best.get(t.variant)
        if cur is None or sign * v > sign * (S.trial_value(cur, metric) or -math.inf * sign):
            best[t.variant] = t
    return best


def point_row(row: dict[str, Any], point: TrialRecord, metric: str) -> dict[str, Any]:
    """A search trial's row on a fold axis: its point, fold mean (the value) and std (of a complete
    point: Optuna saw no value of the others), finished folds."""
    rest = {k: v for k, v in row.items() if k not in ("number", "state", "value")}
    std = point.metrics.get(f"{metric}_std", math.nan) if row["state"] == "complete" else math.nan
    return {"number": row["number"], "point": point.name, "state": row["state"], f"{metric} (fold mean)": row["value"],
            f"{metric} std": std,
            "folds finished": f"{int(point.metrics.get('folds_finished', 0))}/{int(point.metrics.get('folds', 0))}", **rest}


def parsed(params: dict[str, str]) -> dict[str, Any]:
    """A run's params with their logged text parsed back (``"['wisdm']"`` -> a list)."""
    return {k: S._value(v) for k, v in params.items()}


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class Reporter:
    def __init__(self, store: RunTree, out_root: Path, tsne: bool = True, auc: str = "prob") -> None:
        self.store, self.out_root, self.tsne = store, out_root, tsne
        self.auc, self.metrics = auc, table2_metrics(auc)  # which logged AUC fills the AUC column
        self._models: dict[str, str] | None = None
        self._fold_data: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def models(self) -> dict[str, str]:
        if self._models is None:
            self._models = self.store.model_uris()
        return self._models

    # -- entry --------------------------------------------------------------------------------------
    def stage(self, parent: RunRef, st: RunRef, spec: dict[str, Any] | None) -> StageReport:
        folder = Folder(self.out_root / safe_name(st.name))
        rep = StageReport(st.name, st.kind, st.run_id, folder.root, {})
        metric, mode = stage_metric(st.params)
        everything: list[TrialRecord] = []
        sections: list[str] = [f"# Report: stage {st.name} ({st.kind}) of run {parent.run_id[:8]}", ""]
        for name, run in self.store.trial_groups(st):
            trials = self.store.trials(run.run_id)
            everything += trials
            prefix = f"{safe_name(name)}/" if name else ""
            if run.trials_kind == "search":
                sections.append(self.search_section(folder, prefix, name or st.name, run, trials, metric, mode, rep))
            else:
                sections.append(self.grid_section(folder, prefix, name or st.name, run, trials, spec, rep))
        if st.kind == "comparison":
            sections.append(self.comparison_tables(folder, st, everything, spec, rep))
        sections.append(self.stage_tables(folder, st))
        sections.append(self.model_section(folder, st, everything, metric, mode, rep))
        if not any(t.finished for t in everything):
            rep.notes.append(f"stage {st.name}: no finished trial")
        report_md = "\n".join(s for s in sections if s) + "\n"
        folder.text("report.md", report_md)
        if not rep.main:
            rep.main = {fmt: report_md for fmt in FORMATS}
        return rep

    # -- ablation grids -----------------------------------------------------------------------------
    def grid_section(self, folder: Folder, prefix: str, title: str, run: RunRef, trials: Sequence[TrialRecord],
                     spec: dict[str, Any] | None, rep: StageReport) -> str:
        done = [t for t in trials if t.finished]
        if not done:
            return f"## {title}\n\nno finished trial\n"
        order = variant_order(spec, rep.stage if not prefix else "", run.params, trials)
        obs = [self.observation(t) for t in done]
        if rep.kind == "comparison":  # Table 3: Acc and F1, every row against the reference
            stem, reference = "table3", CMP.ComparisonSettings.of(parsed(run.params)).reference_row(order)
            table = ablation_table(obs, order, TABLE3_METRICS, title=f"Table 3 layout: stage {title}", reference=reference)
        else:
            stem = "table2"
            table = ablation_table(obs, order, self.metrics, title=f"Table 2 layout: stage {title}")
            table.notes.append(AUC_COLUMN[self.auc][1])
        left = len(trials) - len(done)
        if left:
            table.notes.append(f"{left} trial(s) not finished (stopped early or failed) are left out.")
        for fmt, write in ABLATION_WRITERS.items():
            folder.text(f"{prefix}{stem}.{fmt}", write(table))
        folder.rows(f"{prefix}{stem}_long", table.long_rows())
        rep.tables[title] = table
        if not prefix and not rep.main:
            rep.main = {fmt: write(table) for fmt, write in ABLATION_WRITERS.items()}
        text = f"## {title}\n\n" + ABLATION_WRITERS["md"](table)
        if table.cross_validated:
            text += self.fold_tables(folder, prefix, title, done, obs, table.variants)
        return text + self.ranks_section(folder, prefix, table, rep)

    # -- Tables 4 and 6 of a comparison stage ----------------------------------------------------------
    def comparison_tables(self, folder: Folder, st: RunRef, trials: Sequence[TrialRecord],
                          spec: dict[str, Any] | None, rep: StageReport) -> str:
        """Table 4 (per-activity accuracy and F1 on each ``per_class`` dataset) and Table 6 (feature-space
        distances of the ``distances`` rows) of a comparison stage, from its finished trials; both follow
        Table 3 in what ``hartune report`` prints."""
        cfg = CMP.ComparisonSettings.of(parsed(st.params))
        done = [t for t in trials if t.finished]
        if not done:
            return ""
        order = variant_order(spec, st.name, st.params, trials)
        reference, out = cfg.reference_row(order), []
        for d in cfg.per_class:
            obs = []
            for t in (t for t in done if t.dataset == d):
                cm = self.store.json(t.run_id, "confusion_matrix.json")
                if cm:
                    obs += CMP.per_class_observations(self.observation(t), np.array(cm["confusion_matrix"]),
                                                      cm["class_names"], cfg.per_class_accuracy)
            title = f"Table 4 layout: per-activity test accuracy and F1 on {d}, stage {st.name}"
            out.append(self.comparison_table(folder, f"table4_{safe_name(d)}", title, obs, order, CMP.TABLE4_METRICS,
                                              reference, [CMP.table4_note(cfg.per_class_accuracy)], rep))
        rows = [v for v in order if v in (cfg.distances or order)]
        obs = [self.observation(t) for t in done if t.variant in rows]
        title = f"Table 6 layout: intra-class and inter-class distances on the test split, stage {st.name}"
        out.append(self.comparison_table(folder, "table6", title, obs, rows, CMP.table6_metrics(cfg.feature_space),
                                          reference if reference in rows else None, [CMP.table6_note(cfg.feature_space)],
                                          rep, percent=False, lower={CMP.intra_key(cfg.feature_space)},
                                          unit="the feature space's distance units"))
        return "\n".join(out)

    def comparison_table(self, folder: Folder, stem: str, title: str, obs: Sequence[Observation], order: Sequence[str],
                         metrics: Sequence[tuple[str, str]], reference: str | None, notes: list[str],
                         rep: StageReport, percent: bool = True, lower: set[str] | frozenset[str] = frozenset(),
                         unit: str = "") -> str:
        """One table of a comparison stage, written in every format and appended to the printed main."""
        if not any(k in o.metrics for o in obs for k, _ in metrics):
            rep.notes.append(f"{title}: no trial logged its figures")
            return f"## {title}\n\nno trial logged these figures\n"
        table = ablation_table(obs, order, metrics, percent=percent, title=title, reference=reference,
                               lower_is_better=lower)
        table.notes.extend(notes)
        table.unit = unit
        for fmt, write in ABLATION_WRITERS.items():
            folder.text(f"{stem}.{fmt}", write(table))
            rep.main[fmt] = f"{rep.main.get(fmt, '')}\n{write(table)}"
        folder.rows(f"{stem}_long", table.long_rows())
        rep.tables[title] = table
        return f"## {title}\n\n" + ABLATION_WRITERS["md"](table)

    # -- cross-validation ---------------------------------------------------------------------------
    def fold_data(self, t: TrialRecord) -> tuple[float, list[dict[str, Any]]]:
        """A fold trial's test/train window ratio (``data.json``) and per-subject scores
        (``per_subject.json``); read once per trial."""
        if t.run_id not in self._fold_data:
            windows = ((self.store.json(t.run_id, "data.json") or {}).get("split") or {}).get("windows") or {}
            ratio = windows["test"] / windows["train"] if windows.get("train") and "test" in windows else math.nan
            self._fold_data[t.run_id] = (ratio, self.store.json(t.run_id, "per_subject.json") or [])
        return self._fold_data[t.run_id]

    def observation(self, t: TrialRecord) -> Observation:
        if t.fold is None:
            return Observation(t.variant, t.dataset, t.seed, t.test_metrics())
        return Observation(t.variant, t.dataset, t.seed, t.test_metrics(), t.fold, t.test_subjects, self.fold_data(t)[0])

    def subject_scores(self, trials: Sequence[TrialRecord], label: dict[str, str] | None = None) -> list[CV.SubjectScore]:
        """Every test subject's scores of the fold trials (their variant, or ``label[run_id]``)."""
        return [CV.SubjectScore((label or {}).get(t.run_id, t.variant), t.dataset, t.seed, t.fold, int(r["subject"]),
                                int(r.get("windows", 0)), float(r["accuracy"]), float(r["f1_macro"]))
                for t in trials for r in self.fold_data(t)[1]]

    def fold_tables(self, folder: Folder, prefix: str, title: str, done: Sequence[TrialRecord],
                    obs: Sequence[Observation], order: Sequence[str]) -> str:
        """The per-fold table, and the per-subject table and plot, of a cross-validated grid."""
        rows = CV.fold_rows([o for o in obs if o.fold is not None], order, self.metrics)
        folder.rows(f"{prefix}folds", rows, f"{title}: test metrics of every fold trial (fractions)")
        link = (f"\nPer-fold test metrics of every fold trial ({len(rows)} rows): [folds.md]({prefix}folds.md), "
                f"[folds.csv]({prefix}folds.csv).\n\n")
        scores = self.subject_scores([t for t in done if t.fold is not None])
        return link + self.subject_section(folder, prefix, title, scores, order)

    def subject_section(self, folder: Folder, prefix: str, title: str, scores: Sequence[CV.SubjectScore],
                        order: Sequence[str]) -> str:
        from hartune.report.figures import per_subject_figure

        if not scores:
            return "no per-subject scores (the fold trials logged no per_subject.json)\n"
        rows = CV.per_subject_rows(scores, order)
        caption = f"{title}: test accuracy and F1 of each subject (fractions, mean over seeds)"
        folder.rows(f"{prefix}per_subject", rows, caption)
        folder.figure(f"{prefix}per_subject.png", per_subject_figure(
            CV.subject_values(scores, order), f"{title}: one point per test subject"))
        return rows_md(rows, caption) + f"\n![per subject]({prefix}per_subject.png)\n"

    def ranks_section(self, folder: Folder, prefix: str, table: AblationTable, rep: StageReport) -> str:
        """Friedman/Nemenyi ranks and the CD diagram (several datasets, or the folds of one), or a note
        saying why not."""
        from hartune.report.figures import cd_figure

        ranking, note = CV.rank_variants(table, RANK_METRIC)
        if ranking is None:
            if note:
                rep.notes.append(f"{table.title}: {note}")
            return f"\n{note}\n" if note else ""
        title = "mean ranks (Friedman + Nemenyi)"
        folder.rows(f"{prefix}ranks", ranking.rows(), title)
        text = rows_md(ranking.rows(), title) + f"\n{ranking.footnote()}\n"
        folder.text(f"{prefix}ranks.md", text)
        folder.figure(f"{prefix}cd_diagram.png", cd_figure(ranking.result))
        return f"\n{text}\n![critical-difference diagram]({prefix}cd_diagram.png)\n"

    # -- searches -----------------------------------------------------------------------------------
    def search_section(self, folder: Folder, prefix: str, title: str, run: RunRef, trials: Sequence[TrialRecord],
                       metric: str, mode: str, rep: StageReport) -> str:
        groups = self.store.group_records(run.run_id)
        folds_of = {g.run_id: folds for g, folds in groups}
        if groups:  # a fold axis: one Optuna trial per point, valued at its fold mean
            trials = [g for g, _ in groups]
            curves = {g.run_id: CV.mean_curve([self.store.metric_history(f.run_id, metric) for f in folds])
                      for g, folds in groups if g.status == "KILLED"}
        else:
            curves = {t.run_id: self.store.metric_history(t.run_id, metric) for t in trials if t.status == "KILLED"}
        dists, source = S.space_distributions(run.params, trials)
        study = S.build_study(trials, dists, metric, mode, curves)
        out = [f"## {title}: search over {', '.join(k.removeprefix('space.') for k in dists)}", "",
               f"Distributions: {source}. Trials: " + ", ".join(
                   f"{sum(t.state.name == s for t in study.trials)} {s.lower()}" for s in ("COMPLETE", "PRUNED", "FAIL")), ""]
        complete = [t for t in study.trials if t.state.name == "COMPLETE"]
        if complete:
            best = study.best_trial
            run_id = best.user_attrs["mlflow_run_id"]
            tr = next(t for t in trials if t.run_id == run_id)
            value = ({"point": tr.name, f"{metric} (fold mean)": best.value, f"{metric} std": tr.metrics.get(f"{metric}_std"),
                      "folds": len(folds_of[run_id])} if groups else {metric: best.value})
            row = {"run": run_id[:8], **value, **best.params}
            row.update({f"test_{k}": tr.metrics.get(f"test_{k}") for k, _ in self.metrics})
            folder.rows(f"{prefix}best_config", [row], "best configuration")
            out.append(rows_md([row], "best configuration"))
            if groups:
                out.append(self.best_point_folds(folder, prefix, tr, folds_of[run_id], metric))
        imp, note = S.importances(study)
        imp_rows = [{"parameter": k, "importance": v} for k, v in imp.items()]
        folder.rows(f"{prefix}importances", imp_rows, "parameter importances")
        out.append(rows_md(imp_rows, "parameter importances (Optuna)") if imp_rows else f"importances: {note}\n")
        trial_rows = [{"number": t.number, "state": t.state.name.lower(), "value": t.value, **t.params,
                       "run": t.user_attrs["mlflow_run_id"][:8]} for t in study.trials]
        if groups:
            points = {g.run_id: g for g, _ in groups}
            trial_rows = [point_row(r, points[t.user_attrs["mlflow_run_id"]], metric)
                          for r, t in zip(trial_rows, study.trials)]
        folder.rows(f"{prefix}trials", trial_rows, "trials")
        if groups:
            out.append(rows_md(trial_rows, f"points: {metric} mean and std over their folds (the value Optuna saw)"))
            out.append(self.search_subjects(folder, prefix, title, study, groups))
        figs, notes = S.figures(study)
        for name, fig in figs.items():
            folder.figure(f"{prefix}{name}", fig)
        out += [f"![{n}]({prefix}{n})" for n in figs] + notes
        if not rep.main and not prefix:
            rep.main = {fmt: ROWS_WRITERS[fmt]([*([row] if complete else [])], f"best configuration of {title}")
                        for fmt in FORMATS} if complete else {}
        return "\n".join(out) + "\n"

    def best_point_folds(self, folder: Folder, prefix: str, point: TrialRecord, folds: Sequence[TrialRecord],
                         metric: str) -> str:
        """The best point's value and test metrics on each of its folds, with their mean and std."""
        done = [f for f in folds if f.finished]
        obs = [Observation(point.name, f.dataset, f.seed, {metric: _or_nan(S.trial_value(f, metric)), **f.test_metrics()},
                           f.fold, f.test_subjects) for f in done]
        columns = [(metric, metric), *self.metrics]
        rows = [{k: v for k, v in r.items() if k not in ("variant", "dataset", "seed")}
                for r in CV.fold_rows(obs, [point.name], columns)]
        rows = CV.with_mean_std(rows, [label for _, label in columns], "fold")
        caption = f"best point ({point.name}): {metric} and test metrics per fold"
        folder.rows(f"{prefix}best_point_folds", rows, caption)
        return rows_md(rows, caption)

    def search_subjects(self, folder: Folder, prefix: str, title: str, study: Any,
                        groups: Sequence[tuple[TrialRecord, list[TrialRecord]]]) -> str:
        """The per-subject table and plot of a cross-validated search: its best points (up to
        TOP_POINTS, best first)."""
        complete = [t for t in study.trials if t.state.name == "COMPLETE"]
        top = sorted(complete, key=lambda t: t.value, reverse=study.direction.name == "MAXIMIZE")[:TOP_POINTS]
        by_id = {g.run_id: (g, folds) for g, folds in groups}
        picked = [by_id[t.user_attrs["mlflow_run_id"]] for t in top]
        if not picked:
            return ""
        label = {f.run_id: g.name for g, folds in picked for f in folds}
        scores = self.subject_scores([f for _, folds in picked for f in folds if f.finished], label)
        return self.subject_section(folder, prefix, f"{title} (best points)", scores, [g.name for g, _ in picked])

    # -- stage-level tables logged by the stage itself ---------------------------------------------------
    def stage_tables(self, folder: Folder, st: RunRef) -> str:
        """The tables the stage logged (its kind declares them; the stage run records which it wrote)."""
        out = []
        for name in st.artifacts:
            if name.endswith(".csv"):
                rows = csv_rows(self.store.text(st.run_id, name) or "")
                folder.rows(name.removesuffix(".csv"), rows, name)
                out.append(rows_md(rows, f"{name.removesuffix('.csv')} (logged by the stage)"))
        return "\n".join(out)

    # -- per model -----------------------------------------------------------------------------------
    def model_section(self, folder: Folder, st: RunRef, trials: Sequence[TrialRecord], metric: str, mode: str,
                      rep: StageReport) -> str:
        from hartune.report.figures import radar_figure
        from hartune.tracking.plots import confusion_figure

        done = [t for t in trials if t.finished]
        if not done:
            return ""
        best = best_per_variant(done, metric, mode)
        out = ["## Per model", "", f"Each variant's best trial by {metric} ({mode})."]
        for variant, t in best.items():
            sub = f"models/{safe_name(variant)}/"
            cm = self.store.json(t.run_id, "confusion_matrix.json")
            if cm:
                folder.figure(f"{sub}confusion_matrix.png",
                              confusion_figure(np.array(cm["confusion_matrix"]), cm["class_names"], f"{variant} (test)"))
            per_class = self.store.json(t.run_id, "per_class_report.json") or []
            folder.rows(f"{sub}per_class", per_class, f"{variant}: per-class test metrics")
            out.append(rows_md(per_class, f"{variant} (run {t.run_id[:8]}, {t.dataset}, seed {t.seed}): per-class test metrics"))
        # Fig. 3: mean test metrics over seeds, one radar per dataset
        for d in dict.fromkeys(t.dataset for t in done):
            scores = {}
            for v in dict.fromkeys(t.variant for t in done):
                vals = [t for t in done if t.variant == v and t.dataset == d]
                scores[v] = {label: _mean([t.metrics.get(f"test_{k}") for t in vals]) for k, label in self.metrics}
            if scores:
                folder.figure(f"radar_{safe_name(d)}.png", radar_figure(scores, f"test metrics on {d} (mean over seeds)"))
                out.append(f"![radar {d}](radar_{safe_name(d)}.png)")
        # Table 5: deployment profile
        deploy = []
        for (v, d) in dict.fromkeys((t.variant, t.dataset) for t in done):
            vals = [t for t in done if t.variant == v and t.dataset == d]
            row = {"variant": v, "dataset": d, **{col: _mean([t.metrics.get(k) for t in vals]) for k, col in DEPLOY_COLUMNS.items()}}
            if any(not math.isnan(x) for k, x in row.items() if k not in ("variant", "dataset")):
                deploy.append(row)
        if deploy:
            folder.rows("deployment", deploy, "deployment profile (Table 5), mean over seeds")
            out.append(rows_md(deploy, "deployment profile (Table 5 layout), mean over seeds"))
        out.append(self.feature_section(folder, st, done, best, metric, mode, rep))
        return "\n".join(out) + "\n"

    def feature_section(self, folder: Folder, st: RunRef, done: Sequence[TrialRecord], best: dict[str, TrialRecord],
                        metric: str, mode: str, rep: StageReport) -> str:
        """Fig. 5 and Table 6 for every variant with a logged model (the stage's best at least, with
        ``log_models: best``)."""
        from hartune.report.features import model_features, tsne
        from hartune.report.figures import tsne_figure

        uris = self.models()
        sign = 1.0 if mode == "max" else -1.0
        rows, out, skipped = [], ["### Feature space (t-SNE, Table 6)"], []
        for variant in best:
            with_model = [t for t in done if t.variant == variant and t.run_id in uris]
            if not with_model:
                skipped.append(variant)
                continue
            t = max(with_model, key=lambda t: sign * (S.trial_value(t, metric) or -math.inf * sign))
            try:
                model = _load_torch(uris[t.run_id])
            except Exception as e:  # noqa: BLE001 - an sklearn model or an unreadable one: say why, go on
                out.append(f"{variant}: model of run {t.run_id[:8]} not usable for features ({type(e).__name__}: {e})")
                continue
            data = self.store.json(t.run_id, "data.json") or {}
            fr = model_features(model, t.params, data.get("fingerprint"))
            rows.append({"variant": variant, "run": t.run_id[:8], "dataset": t.dataset, "seed": t.seed,
                         "intra": fr.distances["intra_class_distance"], "inter": fr.distances["inter_class_distance"],
                         "ratio": fr.distances["inter_intra_ratio"], "test windows": len(fr.y),
                         "data matches the run": fr.fingerprint_ok})
            if self.tsne:
                emb, y = tsne(fr.features, fr.y)
                name = f"models/{safe_name(variant)}/tsne.png"
                folder.figure(name, tsne_figure(emb, y, fr.class_names, f"{variant}: t-SNE of penultimate features (test)"))
                out.append(f"![t-SNE {variant}]({name})")
        if rows:
            folder.rows("feature_distances", rows, "intra/inter-class distances (Table 6)")
            out.insert(1, rows_md(rows, "intra/inter-class distances of penultimate features on the test split (Table 6 layout)"))
        if skipped:
            note = (f"no logged model for {', '.join(skipped)}: t-SNE and Table 6 skipped for them "
                    "(set tracking.log_models: all to log every trial's model)")
            out.append(note)
            rep.notes.append(note)
        return "\n".join(out) + "\n"


def _mean(values: Sequence[float | None]) -> float:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return statistics.fmean(vals) if vals else math.nan


def _or_nan(x: float | None) -> float:
    return math.nan if x is None else x


def _load_torch(uri: str) -> Any:
    import mlflow.pytorch

    model = mlflow.pytorch.load_model(uri, map_location="cpu")
    if not hasattr(model, "state_dict"):
        raise TypeError(f"{type(model).__name__} is not a PyTorch module")
    return model


def report(
    uri: str, experiment: str, run_id: str | None = None, stage: str | None = None, out: str | Path | None = None,
    log: bool = True, tsne: bool = True, auc: str = "prob",
) -> tuple[RunRef, list[StageReport]]:
    """Write the report of each stage (or ``stage``) of the parent run ``run_id`` (default: the latest) and
    log each folder to its stage run under ``report/``. ``auc`` picks the AUC column (``AUC_COLUMN``)."""
    import os

    import mlflow
    import optuna

    from hartune.registry import ConfigError

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    mlflow.set_tracking_uri(uri)  # models:/ URIs resolve against this store
    store = RunTree.of(uri, experiment)
    parent = store.parent(run_id)
    root = Path(out) if out else Path("reports") / experiment / parent.run_id[:8]
    reporter = Reporter(store, root, tsne=tsne, auc=auc)
    stages = store.stages(parent, stage)
    if not stages:
        raise ConfigError(f"run {parent.run_id[:8]} of {experiment!r} has no stage run")
    spec = store.spec(parent)
    reports = []
    for st in stages:
        rep = reporter.stage(parent, st, spec)
        if log:
            store.log_folder(st.run_id, rep.folder, "report")
        reports.append(rep)
    if not any(r.tables or "best configuration" in r.main.get("md", "") for r in reports):
        raise ConfigError(f"run {parent.run_id[:8]} of {experiment!r}: no finished trial in "
                          f"{'stage ' + stage if stage else 'any stage'}")
    write_page(root, experiment, parent.run_id, reports, store if log else None)
    return parent, reports
