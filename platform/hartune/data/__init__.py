"""Datasets, windows, splits, imbalance and normalisation: ``prepare(DataConfig) -> PreparedData``."""

from hartune.data.base import DataError, Recordings
from hartune.data.datasets import DATASETS, DatasetConfig, load_recordings, register_dataset
from hartune.data.imbalance import ImbalanceConfig
from hartune.data.splits import SPLITS, SplitConfig, SplitIndices, register_split
from hartune.data.windows import WindowConfig, Windows, make_windows

# isort: split
# The loaders of the original releases and the named protocols register themselves on import.
from hartune.data import mhealth, opportunity, pamap2, protocols, uci_har, unimib, wisdm  # noqa: F401

# isort: split
# prepare builds its unions from the registries above, so it is imported last.
from hartune.data.prepare import DataConfig, Part, PreparedData, prepare, zscore_stats

__all__ = [
    "DATASETS", "SPLITS", "DataConfig", "DataError", "DatasetConfig", "ImbalanceConfig", "Part",
    "PreparedData", "Recordings", "SplitConfig", "SplitIndices", "WindowConfig", "Windows",
    "load_recordings", "make_windows", "prepare", "register_dataset", "register_split", "zscore_stats",
]
