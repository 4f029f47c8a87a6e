"""Appendix C's loss searches end to end: a real tiny independent stage (grid), one in sampler mode
(TPE), and an interleaved stage (TPE rounds) started from the first, through real Ray Tune into a real
MLflow SQLite store, asserted by reading the store back. One run serves every assertion (~2 min)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from spec_runs import run_spec, watch_entry

# end-to-end runs on a real Ray (each over 20 s): left out of the default run, .ci/run runs them
pytestmark = pytest.mark.slow

SPEC = {
    "name": "tinyloss",
    "seeds": [0],
    "max_concurrent": 2,
    "datasets": {
        "watch": watch_entry(epochs=2, imbalance=5, lr=0.003)
    },
    "models": {"cnn": {"name": "cnn", "channels": [16, 16], "hidden": 32}},
    "stages": [
        {
            "name": "independent",
            "kind": "independent",
            "search": "grid",
            "space": {
                "label_smoothing": {"grid": [{"epsilon": 0.0}, {"epsilon": 0.2}]},
                "focal": {"grid": [{"gamma": 1.0, "alpha": 0.25}, {"gamma": 3.0, "alpha": 0.75}]},
            },
            "seeds": [0],
        },
        {
            "name": "focal_tpe",  # sampler mode: continuous ranges, one family
            "kind": "independent",
            "search": "sampler",
            "families": ["focal"],
            "space": {"focal": {"range": {"gamma": {"type": "float", "low": 0.5, "high": 4.0},
                                          "alpha": {"type": "float", "low": 0.1, "high": 0.9}}}},
            "sampler": "tpe",
            "num_samples": 2,
        },
        {
            "name": "interleaved",
            "kind": "interleaved",
            "from_stage": "independent",
            "space": {
                "label_smoothing": {"range": {"epsilon": {"type": "float", "low": 0.0, "high": 0.3}}},
                "focal": {"range": {"gamma": {"type": "float", "low": 0.5, "high": 4.0}}},
            },
            "sampler": "tpe",
            "samples_per_round": 2,
            "max_rounds": 2,
        },
    ],
}
FAMILIES = ("label_smoothing", "focal")
KNOBS = ("loss.terms.label_smoothing.epsilon", "loss.terms.focal.gamma", "loss.terms.focal.alpha")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, ray_local):
    d = tmp_path_factory.mktemp("loss")
    rc, c = run_spec(d, SPEC)
    exp = c.get_experiment_by_name("tinyloss")
    runs = c.search_runs([exp.experiment_id], max_results=1000)
    return rc, c, runs


def children(runs, parent_id: str, level: str) -> list:
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id
            and r.data.tags.get("hartune.level") == level]


def stage(runs, name: str):
    return next(r for r in runs if r.data.tags.get("hartune.level") == "stage" and r.info.run_name == name)


def table(c: MlflowClient, run_id: str, name: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(Path(c.download_artifacts(run_id, name)).read_text()))


def test_independent_searches_each_family_alone_and_hands_on_their_optima(finished) -> None:
    rc, c, runs = finished
    assert rc == 0
    ind = stage(runs, "independent")
    steps = {s.info.run_name: s for s in children(runs, ind.info.run_id, "step")}
    assert set(steps) == set(FAMILIES)
    best_terms = {}
    for fam, step in steps.items():
        trials = children(runs, step.info.run_id, "trial")
        assert len(trials) == 2
        assert {t.data.params["loss.name"] for t in trials} == {fam}  # the family alone
        per_point = table(c, ind.info.run_id, f"{fam}.csv")
        top = per_point.loc[per_point["val_f1_macro"].idxmax()]
        assert step.data.tags["hartune.best"] == top["config"]
        best = next(t for t in trials if t.info.run_name == f"{top['config']}-watch-s0")
        best_terms[fam] = {k.split(".", 1)[1]: v for k, v in best.data.params.items() if k.startswith("loss.")}
    overlay = yaml.safe_load(Path(c.download_artifacts(ind.info.run_id, "best_config.json")).read_text())
    assert overlay["loss"]["name"] == "composite" and list(overlay["loss"]["terms"]) == list(FAMILIES)
    for fam, term in overlay["loss"]["terms"].items():
        for knob, value in term.items():
            assert str(value) == best_terms[fam][knob]
    assert set(table(c, ind.info.run_id, "independent.csv")["family"]) == set(FAMILIES)


def test_independent_sampler_mode_searches_the_family_ranges(finished) -> None:
    _, c, runs = finished
    st = stage(runs, "focal_tpe")
    (step,) = children(runs, st.info.run_id, "step")
    trials = children(runs, step.info.run_id, "trial")
    assert step.info.run_name == "focal" and len(trials) == 2
    points = {(float(t.data.params["loss.gamma"]), float(t.data.params["loss.alpha"])) for t in trials}
    assert len(points) == 2 and all(0.5 <= g <= 4.0 and 0.1 <= a <= 0.9 for g, a in points)
    assert {t.data.params["loss.name"] for t in trials} == {"focal"}
    terms = yaml.safe_load(Path(c.download_artifacts(st.info.run_id, "best_config.json")).read_text())["loss"]["terms"]
    assert list(terms) == ["focal"] and (terms["focal"]["gamma"], terms["focal"]["alpha"]) in points


def test_interleaved_rounds_carry_the_fixed_values_and_record_a_trajectory(finished) -> None:
    _, c, runs = finished
    ind, inter = stage(runs, "independent"), stage(runs, "interleaved")
    start = yaml.safe_load(Path(c.download_artifacts(ind.info.run_id, "best_config.json")).read_text())["loss"]["terms"]
    rounds = sorted(children(runs, inter.info.run_id, "step"), key=lambda r: r.info.start_time)
    assert [r.info.run_name for r in rounds] == ["round-0-start", "round-1-label_smoothing", "round-2-focal"]
    trials = [children(runs, r.info.run_id, "trial") for r in rounds]
    assert [len(t) for t in trials] == [1, 2, 2]
    traj = table(c, inter.info.run_id, "trajectory.csv")
    assert list(traj["round"]) == [0, 1, 2] and list(traj["family"]) == ["start", *FAMILIES]

    def knobs(t) -> dict[str, float]:
        return {k: float(t.data.params[k]) for k in KNOBS}

    # round 0 trains the independent optima as they are
    assert knobs(trials[0][0]) == {
        "loss.terms.label_smoothing.epsilon": start["label_smoothing"]["epsilon"],
        "loss.terms.focal.gamma": start["focal"]["gamma"], "loss.terms.focal.alpha": start["focal"]["alpha"]}
    incumbent = knobs(trials[0][0])
    value = trials[0][0].data.metrics["best_val_f1_macro"]
    for r, fam, searched in ((1, "label_smoothing", "loss.terms.label_smoothing.epsilon"), (2, "focal", "loss.terms.focal.gamma")):
        seen = [knobs(t) for t in trials[r]]
        for k in seen:  # every knob but the searched one is carried from the incumbent
            assert {n: v for n, v in k.items() if n != searched} == {n: v for n, v in incumbent.items() if n != searched}
        assert len({k[searched] for k in seen}) == 2  # the sampler moved the searched knob
        best = max(trials[r], key=lambda t: t.data.metrics["best_val_f1_macro"])
        kept = best.data.metrics["best_val_f1_macro"] > value
        row = traj[traj["round"] == r].iloc[0]
        assert bool(row["kept"]) == kept
        assert row["round_best"] == pytest.approx(best.data.metrics["best_val_f1_macro"])
        shown = dict(part.split("=") for part in row["to"].split("; "))  # the round's best, moved knobs
        assert float(shown[searched.rsplit(".", 1)[1]]) == pytest.approx(knobs(best)[searched], rel=1e-3)
        if kept:
            incumbent, value = knobs(best), best.data.metrics["best_val_f1_macro"]
        assert row["incumbent"] == pytest.approx(value)
    final = yaml.safe_load(Path(c.download_artifacts(inter.info.run_id, "best_config.json")).read_text())["loss"]["terms"]
    assert final["label_smoothing"]["epsilon"] == pytest.approx(incumbent["loss.terms.label_smoothing.epsilon"])
    assert final["focal"]["gamma"] == pytest.approx(incumbent["loss.terms.focal.gamma"])


def test_every_loss_run_logs_ece_and_composite_runs_log_weights_and_terms(finished) -> None:
    _, c, runs = finished
    trials = [r for r in runs if r.data.tags.get("hartune.level") == "trial"]
    assert len(trials) == 4 + 2 + 5
    for t in trials:
        assert {"test_ece", "val_ece", "best_val_ece"} <= set(t.data.metrics)
        if t.data.params["loss.name"] == "composite":
            for fam in FAMILIES:
                assert len(c.get_metric_history(t.info.run_id, f"loss_weight_{fam}")) == 2  # every epoch
                assert len(c.get_metric_history(t.info.run_id, f"train_loss_{fam}")) == 2
