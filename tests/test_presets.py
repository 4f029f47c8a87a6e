"""Run presets (``hartune.presets.RUN_PRESETS``): the seed systems as their sources trained them, as a
variant's ``preset``, with the variant's own keys on top and the dataset entry's ``train`` below."""

from __future__ import annotations

import pytest

from hartune.presets import RUN_PRESETS
from hartune.registry import validate_config
from hartune.spec import Spec
from spec_runs import watch_entry


def spec(variants: dict) -> Spec:
    raw = {"name": "presets", "datasets": {"watch": watch_entry(epochs=3, lr=0.002)},
           "stages": [{"name": "baselines", "kind": "grid", "variants": variants}]}
    return validate_config(Spec, raw)


def runs(variants: dict) -> dict:
    s = spec(variants)
    st = s.stages[0]
    return {v: s.run_config("watch", o, 0, v) for v, o in st.overlays(s).items()}


def test_each_preset_is_its_sources_training() -> None:
    got = runs({name: {"preset": name} for name in RUN_PRESETS})
    hs, lstm = got["hs_cnn_source"], got["lstm_source"]
    # seed 000 (HS-CNN reference main.py): Adam 5e-4, x0.1 every 50 epochs, 200 epochs, batch 200
    assert hs.model.name == "hs_cnn" and hs.loss.name == "ce"
    assert (hs.train.lr, hs.train.batch_size, hs.train.epochs) == (5e-4, 200, 200)
    assert (hs.train.lr_schedule, hs.train.step_size, hs.train.step_gamma) == ("step", 50, 0.1)
    # seed 003: AdamOptimizer(0.0025), batch 1024, 50 epochs, L2 0.0015 (as Adam's weight decay)
    assert lstm.model.name == "lstm" and lstm.train.optimizer == "adam" and lstm.train.lr_schedule == "none"
    assert (lstm.train.lr, lstm.train.batch_size, lstm.train.epochs, lstm.train.weight_decay) == (0.0025, 1024, 50, 0.0015)
    # seed 004: the DAE's own deconvolution decoder; the forest on the processed windows
    assert got["dae_cnn_source"].model.params == {"decoder": "own"}
    assert got["random_forest_source"].model.params == {"features": "raw"}
    assert got["dae_cnn_source"].train.lr == 0.002  # no source settings: the dataset entry's stand


def test_variant_keys_override_the_preset() -> None:
    got = runs({"short": {"preset": "lstm_source", "train": {"epochs": 2}, "model": {"hidden": 32}}})["short"]
    assert got.train.epochs == 2 and got.train.lr == 0.0025 and got.model.params == {"hidden": 32}


def test_an_unknown_preset_names_the_variant_and_the_valid_ones() -> None:
    from hartune.registry import ConfigError

    s = spec({"A": {"preset": "lstmm"}})
    with pytest.raises(ConfigError, match=r"stages\[0\]\.variants\.A\.preset='lstmm': unknown run preset; valid: "
                                          + ", ".join(RUN_PRESETS.names())):
        s.stages[0].candidate_runs(s, 0)
