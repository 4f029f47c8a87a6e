"""The USAD paper's per-dataset settings, as named presets of a spec's dataset entry.

``datasets: {pamap2: {preset: pamap2}}`` expands to the entry below; any key given next to ``preset``
overrides it (``{preset: wisdm, split: {kind: random}}`` is the paper-style leaky split). Window,
batch size, epochs and learning rate are the paper's (its implementation details); the 50 % overlap
and the splits are the standard subject-independent protocols (``hartune.data.protocols``), since the
paper does not state its split.
"""

from __future__ import annotations

from typing import Any

from hartune.overlays import deep_merge
from hartune.registry import Registry

PRESETS: Registry[dict[str, Any]] = Registry("dataset preset")

PRESETS.register("wisdm")({
    "dataset": {"name": "wisdm"},
    "window": {"length": 90, "stride": 45},
    "split": {"kind": "kfold", "k": 5, "folds": "all"},  # by subject, every fold (cross-validation)
    "train": {"batch_size": 512, "epochs": 50, "lr": 0.005},
})
PRESETS.register("pamap2")({
    "dataset": {"name": "pamap2", "channels": "paper40"},
    "window": {"length": 171, "stride": 85},
    "split": {"kind": "pamap2_standard"},  # subject 106 test, 105 validation
    "train": {"batch_size": 256, "epochs": 70, "lr": 0.0005},
})
PRESETS.register("opportunity")({
    "dataset": {"name": "opportunity", "labels": "gestures", "channels": "deepconvlstm113"},
    "window": {"length": 30, "stride": 15},
    "split": {"kind": "opportunity_standard"},  # S2/S3 ADL4-5 test, ADL3 validation
    "train": {"batch_size": 128, "epochs": 80, "lr": 0.001},
})


def expand(entry: Any) -> Any:
    """A dataset entry with its ``preset`` (if any) merged under the keys it gives itself."""
    if not isinstance(entry, dict) or "preset" not in entry:
        return entry
    rest = {k: v for k, v in entry.items() if k != "preset"}
    return deep_merge(PRESETS.get(entry["preset"]), rest)
