"""A random forest on per-window statistical features (scikit-learn): the classical baseline that
seed 004 (virtual-IMU CNN + DAE) compares against.

Reference: Breiman 2001. Two inputs (``features``):

* ``statistics`` (the default): hand-crafted window statistics as is usual in HAR (e.g. the features
  of the UCI-HAR release, a small subset of them here), 12 per channel: mean, standard deviation, min,
  max, median, 25th and 75th percentiles, skewness, kurtosis, root mean square, mean absolute first
  difference and the rate of mean crossings. A departure from seed 004, which lists no features.
* ``raw``: seed 004's own setting, "For RF we directly input the processed data": the (z-scored)
  window itself, flattened to T*C values. The ``random_forest_source`` run preset (``hartune.presets``)
  selects it.

It has no epochs: the recipe fits it once (``hartune.train.sklearn``) and it is logged with MLflow's
sklearn flavour. ``num_parameters`` is the forest's total node count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PositiveInt

from hartune.models.base import ModelConfig, register_model

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# The pipeline's steps (and scikit-learn) load when a forest is built; checkpoints pickled before they
# moved name them here, so this module still answers for them.
_STEPS = ("FEATURES", "WindowTransform", "WindowFeatures", "FlatWindows", "ZScore")


def __getattr__(name: str) -> Any:
    if name in _STEPS:
        import hartune.models.forest_steps as steps

        return getattr(steps, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RandomForestConfig(ModelConfig):
    n_estimators: PositiveInt = 100
    max_depth: PositiveInt | None = None
    min_samples_leaf: PositiveInt = 1
    max_features: Literal["sqrt", "log2"] | float = "sqrt"
    class_weight: Literal["balanced", "balanced_subsample"] | None = None
    n_jobs: int = Field(1, description="trees fitted in parallel; 1 keeps to the trial's CPU")
    features: Literal["statistics", "raw"] = "statistics"  # raw: the flattened window (seed 004)


@register_model("random_forest", RandomForestConfig, family="sklearn")
def build_random_forest(in_channels: int, num_classes: int, window: int, cfg: RandomForestConfig) -> Pipeline:
    """Window statistics (or the flattened window) -> random forest (Breiman 2001); seed 004's non-deep
    baseline."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from hartune.models.forest_steps import FlatWindows, WindowFeatures

    forest = RandomForestClassifier(
        n_estimators=cfg.n_estimators, max_depth=cfg.max_depth, min_samples_leaf=cfg.min_samples_leaf,
        max_features=cfg.max_features, class_weight=cfg.class_weight, n_jobs=cfg.n_jobs,
    )
    features = FlatWindows() if cfg.features == "raw" else WindowFeatures()
    return Pipeline([("features", features), ("forest", forest)])


def node_count(pipeline: Pipeline) -> int:
    """Total nodes of the fitted forest: its size, reported as ``num_parameters``."""
    return int(sum(t.tree_.node_count for t in pipeline.named_steps["forest"].estimators_))
