"""Named presets: the USAD paper's per-dataset settings, and the seed systems as their sources trained them.

Dataset presets (``PRESETS``). ``datasets: {pamap2: {preset: pamap2}}`` expands to the entry below; any
key given next to ``preset`` overrides it (``{preset: wisdm, split: {kind: random}}`` is the paper-style
leaky split). Window, batch size, epochs and learning rate are the paper's (its implementation
details); the 50 % overlap and the splits are the standard subject-independent protocols
(``hartune.data.protocols``), since the paper does not state its split.

Run presets (``RUN_PRESETS``). A variant (or a search's ``base``) ``{preset: hs_cnn_source}`` expands to
a partial run config, ``model`` and ``train``, that reproduces how a comparison model's source trained
it; any key given next to ``preset`` overrides it, and the preset overrides the dataset entry's
``train`` (the USAD paper's settings are USAD's, not the baselines'). A run preset is a registry entry,
not a model variant: the training settings belong to a run, and one registered model can have several
sources (or none); the model registry stays about networks.
"""

from __future__ import annotations

from typing import Any

from hartune.overlays import deep_merge
from hartune.registry import ConfigError, Registry

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


RUN_PRESETS: Registry[dict[str, Any]] = Registry("run preset")

# Seed 000, HS-CNN (Tang et al. 2022), ``yinntag/Multi-scale-deep-feature-learning:main.py``: Adam, lr 5e-4
# decayed x0.1 every 50 epochs, 200 epochs, batch 200, cross-entropy.
RUN_PRESETS.register("hs_cnn_source")({
    "model": {"name": "hs_cnn"},
    "loss": {"name": "ce"},
    "train": {"optimizer": "adam", "lr": 5e-4, "batch_size": 200, "epochs": 200, "weight_decay": 0.0,
              "lr_schedule": "step", "step_size": 50, "step_gamma": 0.1},
})
# Seed 003, the two-layer LSTM (GeeksforGeeks, TF1): AdamOptimizer(0.0025), batch 1024, 50 epochs, a
# constant rate, loss = CE + 0.0015 * Σ tf.nn.l2_loss(v) = CE + 0.0015 * Σ ||v||² / 2 over every variable,
# whose gradient 0.0015 * v is Adam's (coupled) weight_decay=0.0015 over every parameter.
RUN_PRESETS.register("lstm_source")({
    "model": {"name": "lstm"},
    "loss": {"name": "ce"},
    "train": {"optimizer": "adam", "lr": 0.0025, "batch_size": 1024, "epochs": 50, "weight_decay": 0.0015,
              "lr_schedule": "none"},
})
# Seed 004 (virtual-IMU CNN): "an unsupervised penalty (deconvolutional layers)": a decoder of its own
# (``dae_cnn``'s ``decoder: own``). The seed's text lost its optimiser settings: the dataset's stand.
RUN_PRESETS.register("dae_cnn_source")({"model": {"name": "dae_cnn", "decoder": "own"}})
# Seed 004's random forest: "For RF we directly input the processed data" (``features: raw``).
RUN_PRESETS.register("random_forest_source")({"model": {"name": "random_forest", "features": "raw"}})


def expand_run(overlay: Any, where: str = "") -> Any:
    """A partial run config with its ``preset`` (if any) merged under the keys it gives itself; an unknown
    preset is a ``ConfigError`` naming ``where`` and the valid presets."""
    if not isinstance(overlay, dict) or "preset" not in overlay:
        return overlay
    name = overlay["preset"]
    if name not in RUN_PRESETS:
        raise ConfigError(f"{where}preset={name!r}: unknown run preset; valid: {', '.join(RUN_PRESETS.names())}")
    rest = {k: v for k, v in overlay.items() if k != "preset"}
    return deep_merge(RUN_PRESETS.get(name), rest)
