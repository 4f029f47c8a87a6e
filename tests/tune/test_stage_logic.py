"""The round logic of stage kinds, driven by a small in-memory driver in milliseconds.

A stage kind asks the runner for Tune experiments only through the ``StageDriver`` protocol, so a test
can script what each experiment returns and check what the stage does with it: when the interleaved
stage keeps a round, when patience ends it, how ``tolerance`` and ``mode`` count. The spec is a real
``Spec`` (validated as ``hartune run`` would); only Ray and MLflow are left out, because this logic has
no side effect. ``tests/tune/test_loss_stages.py`` runs the same stages end to end on real Ray and MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from hartune.overlays import deep_merge, unflatten
from hartune.registry import validate_config
from hartune.spec import Spec
from hartune.tune.outcomes import Best, TrialOutcome
from hartune.tune.stages import GridStage, InterleavedStage, SearchStage, StageConfig
from spec_runs import watch_entry

FAMILIES = ("label_smoothing", "focal")


def spec_with(**stage: Any) -> Spec:
    raw = {
        "name": "logic",
        "datasets": {"watch": watch_entry(epochs=1)},
        "loss": {"name": "composite", "terms": {"label_smoothing": {"name": "label_smoothing", "epsilon": 0.1},
                                                "focal": {"name": "focal", "gamma": 2.0}}},
        "stages": [{
            "name": "inter", "kind": "interleaved", "samples_per_round": 2,
            "space": {"label_smoothing": {"range": {"epsilon": {"type": "float", "low": 0.0, "high": 0.3}}},
                      "focal": {"range": {"gamma": {"type": "float", "low": 0.5, "high": 4.0}}}},
            **stage,
        }],
    }
    return validate_config(Spec, raw)


class ScriptedDriver:
    """A ``StageDriver`` whose Tune experiments return scripted best values, one per call in order
    (``None``: no trial finished). A round's best moves its family's knob to the space's upper bound,
    so the stage has a real overlay to keep or drop."""

    def __init__(self, spec: Spec, values: list[float | None]) -> None:
        self.spec, self.values = spec, list(values)
        self.calls: list[tuple[str | None, StageConfig]] = []
        self.tables: dict[str, list[dict[str, Any]]] = {}

    def tune(self, stage: StageConfig, start: Mapping[str, Any], step: str | None = None):
        self.calls.append((step, stage))
        value = self.values.pop(0)
        if value is None:
            return None, []
        overlay = deep_merge(start, next(iter(stage.overlays(self.spec).values())))
        if isinstance(stage, SearchStage):
            _, high = stage.load(self.spec).labelled_corners()[1]  # the first knob at its upper bound
            overlay = deep_merge(overlay, unflatten(high))
        o = TrialOutcome(f"t{len(self.calls)}", {"variant": "base"}, {"val_f1_macro": value}, "finished")
        return Best(overlay, f"call {len(self.calls)}", value, [o.trial_id]), [o]

    def log_table(self, rows: list[dict[str, Any]], artifact_file: str) -> None:
        self.tables[artifact_file] = rows

    def log_figure(self, figure: Any, artifact_file: str) -> None:  # pragma: no cover - not used here
        raise AssertionError("the interleaved stage logs no figure")


def run(values: list[float | None], **stage: Any) -> tuple[Best | None, ScriptedDriver]:
    spec = spec_with(**stage)
    driver = ScriptedDriver(spec, values)
    best = spec.stages[0].execute(driver, {})
    return best, driver


def steps(driver: ScriptedDriver) -> list[str | None]:
    return [step for step, _ in driver.calls]


def test_a_gain_is_kept_and_patience_ends_the_rounds() -> None:
    best, d = run([0.50, 0.60, 0.55, 0.70], patience=1, max_rounds=6)
    # round 1 (label smoothing) beats the start: kept; round 2 (focal) does not: one stale round = patience
    assert steps(d) == ["round-0-start", "round-1-label_smoothing", "round-2-focal"]
    traj = d.tables["trajectory.csv"]
    assert [r["kept"] for r in traj] == [True, True, False]
    assert [r["incumbent"] for r in traj] == [0.50, 0.60, 0.60]
    assert traj[1]["from"] == "epsilon=0.1" and traj[1]["to"] == "epsilon=0.3"
    assert best is not None and best.value == 0.60 and best.trial_ids == ["t2"]
    assert "epsilon=0.3" in best.label and "gamma=2" in best.label  # focal stayed at the start


def test_default_patience_is_one_pass_over_the_families() -> None:
    best, d = run([0.50, 0.40, 0.45, 0.9], max_rounds=6)  # never a gain: stop after len(families) rounds
    assert steps(d) == ["round-0-start", "round-1-label_smoothing", "round-2-focal"]
    assert best is not None and best.value == 0.50 and best.trial_ids == ["t1"]


def test_a_gain_resets_patience_and_families_alternate() -> None:
    best, d = run([0.50, 0.60, 0.65, 0.64, 0.63], patience=2, max_rounds=6)
    assert steps(d) == ["round-0-start", "round-1-label_smoothing", "round-2-focal",
                        "round-3-label_smoothing", "round-4-focal"]
    assert [r["kept"] for r in d.tables["trajectory.csv"]] == [True, True, True, False, False]
    assert best is not None and best.value == 0.65


def test_tolerance_needs_more_than_the_margin() -> None:
    _, d = run([0.50, 0.505, 0.52], patience=2, tolerance=0.01, max_rounds=2)
    assert [r["kept"] for r in d.tables["trajectory.csv"]] == [True, False, True]


def test_max_rounds_bounds_the_search() -> None:
    _, d = run([0.1, 0.2, 0.3, 0.4], max_rounds=3)
    assert len(d.calls) == 4 and steps(d)[-1] == "round-3-label_smoothing"


def test_mode_min_keeps_lower_values() -> None:
    best, d = run([0.50, 0.40, 0.45], mode="min", metric="val_loss", patience=1)
    assert [r["kept"] for r in d.tables["trajectory.csv"]] == [True, True, False]
    assert best is not None and best.value == 0.40


def test_a_round_without_a_finished_trial_is_stale() -> None:
    best, d = run([0.50, None, None], max_rounds=6)
    assert [r["kept"] for r in d.tables["trajectory.csv"]] == [True, False, False]
    assert d.tables["trajectory.csv"][1]["round_best"] is None
    assert best is not None and best.value == 0.50


def test_nothing_finished_at_the_start_ends_the_stage() -> None:
    best, d = run([None])
    assert best is None and steps(d) == ["round-0-start"] and "trajectory.csv" not in d.tables


def test_rounds_search_one_family_under_the_full_composite() -> None:
    _, d = run([0.5, 0.6, 0.7], patience=1, max_rounds=2)
    start, r1, r2 = (stage for _, stage in d.calls)
    assert isinstance(start, GridStage) and isinstance(r1, SearchStage) and isinstance(r2, SearchStage)
    assert list(r1.load(d.spec).params) == ["loss.terms.label_smoothing.epsilon"]
    assert list(r2.load(d.spec).params) == ["loss.terms.focal.gamma"]
    # round 2 searches around round 1's kept incumbent, written out in full (every term and knob)
    terms = r2.base["loss"]["terms"]
    assert terms["label_smoothing"]["epsilon"] == 0.3 and terms["focal"]["gamma"] == 2.0
    assert r1.sampler_seed + 1 == r2.sampler_seed and r1.num_samples == 2


def test_spaces_are_read_once_per_spec(tmp_path, monkeypatch) -> None:
    """A loss space file is validated once, however many of the stage's methods ask for it."""
    import hartune.spec as spec_module

    path = tmp_path / "space.yaml"
    path.write_text("focal: {range: {gamma: {type: float, low: 0.5, high: 4.0}}}\n"
                    "label_smoothing: {range: {epsilon: {type: float, low: 0.0, high: 0.3}}}\n")
    calls = []
    real = spec_module.load_space
    monkeypatch.setattr(spec_module, "load_space", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    spec = spec_with(space=str(path))
    st: InterleavedStage = spec.stages[0]
    st.trial_count(spec), st.describe(spec), st.candidate_runs(spec, 0), st.best_candidates(spec)
    assert [c for c in calls if isinstance(c, str)] == [str(path)]


# -- Appendix C as the paper ran it: grids scored by a table, the stages' own selection ------------------
ROOT = Path(__file__).resolve().parents[2]
INDEPENDENT = str(ROOT / "search_spaces" / "loss_independent.yaml")
TABLE10 = str(ROOT / "search_spaces" / "loss_composite_table10.yaml")


class TableDriver:
    """A ``StageDriver`` whose experiments are grids: one finished trial per variant, its metrics given by
    ``score(run config)``; the stage's own ``best`` picks among them, as the runner does."""

    def __init__(self, spec: Spec, score: Callable[[Any], dict[str, float]]) -> None:
        self.spec, self.score = spec, score
        self.calls: list[tuple[str | None, StageConfig]] = []
        self.tables: dict[str, list[dict[str, Any]]] = {}

    def tune(self, stage: StageConfig, start: Mapping[str, Any], step: str | None = None):
        self.calls.append((step, stage))
        overlays = {k: deep_merge(start, v) for k, v in stage.overlays(self.spec).items()}
        outcomes = [
            TrialOutcome(f"{stage.name}/{v}", {"variant": v, "dataset": "watch", "seed": 0},
                         self.score(self.spec.run_config("watch", o, 0, v)), "finished")
            for v, o in overlays.items()
        ]
        return stage.best(outcomes, overlays), outcomes

    def log_table(self, rows: list[dict[str, Any]], artifact_file: str) -> None:
        self.tables[artifact_file] = rows

    def log_figure(self, figure: Any, artifact_file: str) -> None:  # pragma: no cover - not used here
        raise AssertionError("no figure expected")


def appendix_spec(*stages: dict[str, Any]) -> Spec:
    return validate_config(Spec, {"name": "appendix", "datasets": {"watch": watch_entry(epochs=1)}, "stages": list(stages)})


def test_shipped_c1_grids_are_tables_8_and_9_point_for_point() -> None:
    spaces = appendix_spec({"name": "c1", "kind": "independent", "space": INDEPENDENT}).stages[0].spaces(
        appendix_spec({"name": "c1", "kind": "independent", "space": INDEPENDENT}))
    assert [p["epsilon"] for p in spaces["label_smoothing"].grid] == [0.0, 0.05, 0.1, 0.2]  # Table 8
    assert [(p["gamma"], p["alpha"]) for p in spaces["focal"].grid] == [  # Table 9
        (1.0, 0.25), (2.0, 0.25), (3.0, 0.25), (1.0, 0.5), (1.0, 0.75)]
    assert [p["beta"] for p in spaces["class_balanced"].grid] == [0.9, 0.99, 0.999]  # the CB table
    assert spaces["class_balanced"].loss == {"base": "ce"}
    assert (spaces["label_smoothing"].metric, spaces["label_smoothing"].mode) == ("val_ece", "min")


def c1_score(cfg: Any) -> dict[str, float]:
    """F1 rises with ε while ECE is lowest at 0.05; focal's F1 is best at (γ=1, α=0.5); CB's at β=0.99."""
    loss = cfg.loss
    if loss.name == "label_smoothing":
        return {"val_f1_macro": 0.5 + loss.epsilon, "val_ece": abs(loss.epsilon - 0.05) + 0.01}
    if loss.name == "focal":
        return {"val_f1_macro": 0.6 - abs(loss.alpha - 0.5) - 0.01 * loss.gamma, "val_ece": 0.1}
    return {"val_f1_macro": 0.55 - abs(loss.beta - 0.99), "val_ece": 0.1}


def test_independent_family_picks_its_point_by_its_own_metric() -> None:
    """C.1: the paper picks ε by ECE: label smoothing's optimum is the lowest val_ece (ε = 0.05), not the
    highest F1 (ε = 0.2); the other families follow the stage's metric; the stage's value is the stage
    metric at the optima."""
    spec = appendix_spec({"name": "c1", "kind": "independent", "space": INDEPENDENT})
    driver = TableDriver(spec, c1_score)
    best = spec.stages[0].execute(driver, {})
    terms = best.overlay["loss"]["terms"]
    assert terms["label_smoothing"]["epsilon"] == 0.05
    assert (terms["focal"]["gamma"], terms["focal"]["alpha"]) == (1.0, 0.5) and terms["class_balanced"]["beta"] == 0.99
    ls, focal = driver.calls[0][1], driver.calls[1][1]
    assert (ls.metric, ls.mode) == ("val_ece", "min") and (focal.metric, focal.mode) == ("val_f1_macro", "max")
    rows = {r["family"]: r for r in driver.tables["independent.csv"]}
    assert rows["label_smoothing"]["selected_by"] == "val_ece (min)"
    assert best.value == pytest.approx((0.55 + 0.59 + 0.55) / 3)  # F1 at ε=0.05, (1, 0.5), β=0.99
    assert len(driver.tables["label_smoothing.csv"]) == 4


def test_table10_grid_file_is_its_seven_rows_one_factor_at_a_time() -> None:
    spec = appendix_spec(
        {"name": "c1", "kind": "independent", "space": INDEPENDENT},
        {"name": "c2", "kind": "grid", "from_stage": "c1", "variants": TABLE10},
    )
    c2 = spec.stages[1]
    rows = []
    for overlay in c2.overlays(spec).values():
        w, a = overlay["loss"]["weights"], overlay["loss"]["adaptive"]
        rows.append(([w["label_smoothing"], w["focal"], w["class_balanced"]], a["temperature"], a["min_weight"], a["max_weight"]))
    assert rows == [  # Table 10, top to bottom
        ([0.33, 0.33, 0.34], 1.0, 0.1, 0.8), ([0.6, 0.2, 0.2], 1.0, 0.1, 0.8), ([0.2, 0.6, 0.2], 1.0, 0.1, 0.8),
        ([0.33, 0.33, 0.34], 0.5, 0.1, 0.8), ([0.33, 0.33, 0.34], 2.0, 0.1, 0.8),
        ([0.33, 0.33, 0.34], 1.0, 0.3, 0.6), ([0.33, 0.33, 0.34], 1.0, 0.05, 0.9),
    ]
    factors = [(w, t, (lo, hi)) for w, t, lo, hi in rows]  # weights, temperature, bounds
    assert all(sum(x != y for x, y in zip(f, factors[0])) == 1 for f in factors[1:])  # one factor per row
    assert c2.trial_count(spec) == 7
    # runnable as a grid: every row over every start the C.1 stage can give is a valid adaptive composite
    runs = c2.candidate_runs(spec, 1)
    assert runs and all(r.loss.name == "composite" and r.loss.adaptive is not None for _, r in runs)
    assert {tuple(r.loss.terms) for _, r in runs} == {("label_smoothing", "focal", "class_balanced")}


def c3_score(cfg: Any) -> dict[str, float]:
    """Under the composite: accuracy best at ε = 0.1, (γ, α) = (1, 0.5), β = 0.999 (Tables 11-13's optima)."""
    t = cfg.loss.terms
    return {"val_f1_macro": 1.0 - abs(t["label_smoothing"].epsilon - 0.1) - abs(t["focal"].alpha - 0.5)
            - 0.01 * (t["focal"].gamma - 1) - 10 * abs(t["class_balanced"].beta - 0.999)}


def test_interleaved_grid_rounds_retest_the_c1_points_under_the_full_composite() -> None:
    """C.3 (Tables 11-13): one round per family, each a grid of that family's C.1 points with the other
    terms at their incumbent; one table per round; the incumbent moves to each round's best."""
    start = {"loss": {"name": "composite", "terms": {
        "label_smoothing": {"name": "label_smoothing", "epsilon": 0.05},
        "focal": {"name": "focal", "gamma": 1.0, "alpha": 0.25},
        "class_balanced": {"name": "class_balanced", "beta": 0.9}}}}
    spec = appendix_spec({"name": "c3", "kind": "interleaved", "space": INDEPENDENT, "search": "grid", "max_rounds": 3})
    st: InterleavedStage = spec.stages[0]
    assert st.trial_count(spec) == 1 + 4 + 5 + 3
    driver = TableDriver(spec, c3_score)
    best = st.execute(driver, start)
    assert steps(driver) == ["round-0-start", "round-1-label_smoothing", "round-2-focal", "round-3-class_balanced"]
    r1, r2 = driver.calls[1][1], driver.calls[2][1]
    assert isinstance(r1, GridStage) and list(r1.overlays(spec)) == ["epsilon=0", "epsilon=0.05", "epsilon=0.1", "epsilon=0.2"]
    # round 2 tests focal's five points with label smoothing at round 1's best, class-balanced at its start
    for overlay in r2.overlays(spec).values():
        assert overlay["loss"]["terms"]["label_smoothing"]["epsilon"] == 0.1
        assert overlay["loss"]["terms"]["class_balanced"]["beta"] == 0.9
    assert [len(driver.tables[f"round-{r}-{f}.csv"]) for r, f in ((1, "label_smoothing"), (2, "focal"), (3, "class_balanced"))] == [4, 5, 3]
    terms = best.overlay["loss"]["terms"]
    assert (terms["label_smoothing"]["epsilon"], terms["focal"]["alpha"], terms["class_balanced"]["beta"]) == (0.1, 0.5, 0.999)
    assert [r["kept"] for r in driver.tables["trajectory.csv"]] == [True, True, True, True]


def test_interleaved_grid_rounds_need_the_families_points() -> None:
    from hartune.registry import ConfigError

    spec = spec_with(search="grid")  # the ranges-only space of the rounds above
    with pytest.raises(ConfigError, match=r"space\.label_smoothing\.grid: missing; search: grid re-tests"):
        spec.stages[0].candidate_runs(spec, 0)
