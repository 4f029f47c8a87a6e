"""The ``comparison`` stage: USAD's Table 3 (and Tables 4 and 6 from the same trials).

A grid (:class:`~hartune.tune.stages.grid.GridStage`: variants x datasets x seeds, x folds on a fold
axis) whose rows are the compared models and whose column groups are its datasets, the settings: for
Table 3, PAMAP2 100% and PAMAP2 50% (three-axis acceleration, ``channels: acc9``, and ``train_fraction:
0.5``) and WISDM. ``hartune report`` prints it as it prints Table 2, with Table 3's columns (Acc and F1),
each row against ``reference`` (the paper's model, USAD: Table 3's last row); then

* Table 4, per-activity accuracy and F1 of every row on each dataset of ``per_class`` (the paper: WISDM),
  from each trial's logged confusion matrix. The paper's "Acc." of an activity is not defined; its values
  (77-99 % where one-vs-rest accuracy on six classes would be 93-100 %) read as the class's recall, our
  default; ``per_class_accuracy: one_vs_rest`` takes (TP + TN) / N instead;
* Table 6, intra-class and inter-class distances and their ratio on the test split (Appendix B) of the
  rows in ``distances`` (default: every row), measured in ``feature_space`` (see
  ``hartune.train.metrics.FEATURE_SPACES``), from the metrics each trial logs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from hartune.registry import ConfigError
from hartune.train.metrics import FEATURE_SPACES
from hartune.tune.outcomes import SpecView
from hartune.tune.stages.base import register_stage
from hartune.tune.stages.grid import GridStage

FeatureSpace = Literal[tuple(FEATURE_SPACES)]  # type: ignore[valid-type]


@register_stage
class ComparisonStage(GridStage):
    """Rows = models, column groups = settings (dataset entries); reported as Tables 3, 4 and 6."""

    kind: Literal["comparison"] = "comparison"
    reference: str | None = Field(None, description="the row the others are compared with; default: the last")
    per_class: list[str] = Field(
        default_factory=list, description="Table 4: per-activity metrics on these datasets"
    )
    per_class_accuracy: Literal["recall", "one_vs_rest"] = "recall"
    distances: list[str] | None = Field(None, description="Table 6's rows (variants); default: every row")
    feature_space: FeatureSpace = "penultimate"  # type: ignore[valid-type]

    def reference_row(self, spec: SpecView) -> str:
        return self.reference or list(self.overlays(spec))[-1]

    def candidate_runs(self, spec: SpecView, index: int) -> list[tuple[str, Any]]:
        """The grid's runs, after checking that the report's rows and datasets are the stage's own."""
        rows, datasets = list(self.overlays(spec)), self.dataset_keys(spec)
        checks = [
            ("reference", [self.reference] if self.reference else [], rows, "a variant"),
            ("distances", self.distances or [], rows, "a variant"),
            ("per_class", self.per_class, datasets, "a dataset of the stage"),
        ]
        for key, given, accepted, what in checks:
            bad = [v for v in given if v not in accepted]
            if bad:
                raise ConfigError(
                    f"stages[{index}].{key}: {bad[0]!r} is not {what}; accepted: {', '.join(accepted)}"
                )
        return super().candidate_runs(spec, index)
