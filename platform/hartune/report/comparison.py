"""Tables 3, 4 and 6 of a ``comparison`` stage (``hartune.tune.stages.comparison``), built with the Table 2
machinery (:func:`~hartune.report.table.ablation_table`): pure, numbers in, tables out.

* Table 3: rows = models, column groups = the stage's datasets (the settings), Acc and F1
  (``TABLE3_METRICS``), mean ± std over seeds (x folds), each row against the reference row.
* Table 4: per-activity accuracy and F1 of every model on one dataset. The paper prints activities as
  rows and models as column groups; here the models are the rows and the activities the column groups,
  so that the best model of each activity is marked and every row is tested against the reference, as
  in Table 3. A class's accuracy is its recall TP / (TP + FN) (the paper does not define it; see
  ``hartune.tune.stages.comparison``), or with ``one_vs_rest`` (TP + TN) / N; its F1 is
  2 TP / (2 TP + FP + FN). Both come from the trial's test confusion matrix (rows true, columns
  predicted); a class without test windows in a trial has no value there.
* Table 6: intra-class and inter-class distances and their ratio (Appendix B), as each trial logged them
  (``hartune.tracking.trial.feature_space_metrics``), in distance units (not percent); the lowest
  intra-class distance of a column is its best.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hartune.report.table import Observation
from hartune.train.metrics import DISTANCE_KEYS, FEATURE_SPACES

TABLE4_METRICS: tuple[tuple[str, str], ...] = (("class_accuracy", "Acc."), ("class_f1", "F1"))
DISTANCE_LABELS = dict(zip(DISTANCE_KEYS, ("Intra", "Inter", "Ratio")))


@dataclass(frozen=True)
class ComparisonSettings:
    """A comparison stage's report knobs, read back from its stage run's ``stage.*`` params."""

    reference: str | None = None
    per_class: tuple[str, ...] = ()
    per_class_accuracy: str = "recall"
    distances: tuple[str, ...] | None = None
    feature_space: str = "penultimate"

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> ComparisonSettings:
        """``params``: the stage run's params, values already parsed (``stage.per_class`` -> list)."""
        get = lambda k, default=None: params.get(f"stage.{k}", default)
        distances = get("distances")
        return cls(
            get("reference"),
            tuple(get("per_class") or ()),
            get("per_class_accuracy", "recall"),
            tuple(distances) if distances else None,
            get("feature_space", "penultimate"),
        )

    def reference_row(self, order: Sequence[str]) -> str:
        """The reference: the one named, else the last row (Table 3 ends with the paper's model)."""
        return self.reference or order[-1]


def class_scores(cm: np.ndarray, accuracy: str = "recall") -> tuple[np.ndarray, np.ndarray]:
    """(K, K) confusion counts -> per-class accuracy and F1, (K,) each; nan for a class with no true
    window (its recall and F1 are undefined)."""
    cm = np.asarray(cm, dtype=float)
    tp, true, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if accuracy == "recall":
            acc = tp / true
        else:  # one_vs_rest: (TP + TN) / N
            acc = (cm.sum() - true - predicted + 2 * tp) / cm.sum()
        f1 = 2 * tp / (true + predicted)
    missing = true == 0
    return np.where(missing, np.nan, acc), np.where(missing, np.nan, f1)


def per_class_observations(
    trial: Observation, cm: np.ndarray, class_names: Sequence[str], accuracy: str = "recall"
) -> list[Observation]:
    """One trial's Table 4 cells: an observation per class (as the column group) of the trial's row."""
    acc, f1 = class_scores(cm, accuracy)
    return [
        replace(trial, dataset=name, metrics={"class_accuracy": float(a), "class_f1": float(f)})
        for name, a, f in zip(class_names, acc, f1)
        if not np.isnan(a)
    ]


def table6_metrics(space: str) -> tuple[tuple[str, str], ...]:
    """Table 6's columns in ``space``: (test metric key without ``test_``, label)."""
    prefix = FEATURE_SPACES[space]
    return tuple((f"{prefix}{k}", label) for k, label in DISTANCE_LABELS.items())


def intra_key(space: str) -> str:
    return f"{FEATURE_SPACES[space]}{DISTANCE_KEYS[0]}"


def table4_note(accuracy: str) -> str:
    if accuracy == "recall":
        return "Acc. of an activity: its recall, TP / (TP + FN); F1: 2 TP / (2 TP + FP + FN); from each trial's test confusion matrix."
    return "Acc. of an activity: one-vs-rest accuracy, (TP + TN) / N; F1: 2 TP / (2 TP + FP + FN); from each trial's test confusion matrix."


def table6_note(space: str) -> str:
    where = "penultimate features (the classifier's `features`)" if space == "penultimate" else "logits"
    return (
        f"Distances on the test split in the space of the {where}, Euclidean: Intra = mean over classes of the mean "
        "distance of a class's windows to its centroid; Inter = mean distance between class centroids; Ratio = "
        "Inter / Intra (Appendix B). Units are the space's own, so compare Ratio across models."
    )
