"""Diffusion augmentation through the platform: a real blend stage on the watch data with induced
imbalance, through real Ray Tune into a real MLflow store, after a one-row grid that fixes the model.
The blend's two trials start together and need the same generator: the cache must make exactly one of
them train it (about a minute)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from spec_runs import run_spec, watch_entry

TINY = {"timesteps": 50, "epochs": 5, "batch_size": 64, "denoiser": {"width": 16, "channel_mult": [1, 2]},
        "sampling": {"sampler": "ddim", "ddim_steps": 5}}
SPEC = {
    "name": "tinyblend",
    "seeds": [0],
    "max_concurrent": 2,
    "datasets": {"watch": watch_entry(epochs=2, imbalance=5)},
    "models": {"cnn": {"name": "cnn", "channels": [16, 16], "hidden": 32}},
    "stages": [
        {"name": "model", "kind": "grid", "variants": {"CNN": {"model": "cnn"}}},
        {"name": "blend", "kind": "blend", "from_stage": "model", "augment": {"generator": TINY},
         "ratios": [1], "modes": ["mix", "pretrain"]},
    ],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, ray_local):
    d = tmp_path_factory.mktemp("blend")
    rc, c = run_spec(d, SPEC)
    exp = c.get_experiment_by_name("tinyblend")
    trials = {r.data.tags["hartune.variant"]: r for r in c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")}
    return rc, c, trials, d


def test_two_trials_needing_one_generator_train_it_once(finished) -> None:
    rc, c, trials, d = finished
    assert rc == 0 and set(trials) == {"CNN", "mix 1:1", "pretrain 1:1"}
    blend = [trials["mix 1:1"], trials["pretrain 1:1"]]
    assert len({t.data.tags["hartune.generator_key"] for t in blend}) == 1
    assert sorted(t.data.tags["hartune.generator_trained"] for t in blend) == ["false", "true"]
    entries = [p for p in (d / "generators").iterdir() if p.is_dir()]
    assert [p.name for p in entries] == [blend[0].data.tags["hartune.generator_key"]]
    trainer = next(t for t in blend if t.data.tags["hartune.generator_trained"] == "true")
    logged = {a.path for a in c.list_artifacts(trainer.info.run_id, "generator")}
    assert {"generator/generator.json", "generator/quality.json", "generator/real_vs_synthetic.png"} <= logged
    assert 0.0 <= trainer.data.metrics["generator_tstr_accuracy"] <= 1.0


def test_synthetic_windows_enter_the_training_split_only(finished) -> None:
    _, c, trials, _ = finished

    def split(t) -> dict:
        return json.loads(Path(c.download_artifacts(t.info.run_id, "data.json")).read_text())["split"]["windows"]

    base = split(trials["CNN"])
    for name in ("mix 1:1", "pretrain 1:1"):
        t = trials[name]
        assert split(t) == base  # the real windows of every split, unchanged
        assert t.data.metrics["synthetic_windows"] == base["train"]  # 1:1
        per_class = json.loads(Path(c.download_artifacts(t.info.run_id, "synthetic_per_class.json")).read_text())
        assert sum(per_class.values()) == base["train"]
    assert "synthetic_windows" not in trials["CNN"].data.metrics


def test_blend_table_reports_f1_and_minority_recall(finished) -> None:
    _, c, trials, _ = finished
    exp = c.get_experiment_by_name("tinyblend")
    (st,) = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'stage' and attributes.run_name = 'blend'")
    table = pd.read_csv(c.download_artifacts(st.info.run_id, "blend.csv"))
    assert set(table["config"]) == {"mix 1:1", "pretrain 1:1"}
    for _, row in table.iterrows():
        t = trials[row["config"]]
        assert row["test_f1_macro"] == pytest.approx(t.data.metrics["test_f1_macro"])
        assert row["test_minority_recall"] == pytest.approx(t.data.metrics["test_minority_recall"])
