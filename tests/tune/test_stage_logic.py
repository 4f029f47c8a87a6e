"""The round logic of stage kinds, driven by a small in-memory driver in milliseconds.

A stage kind asks the runner for Tune experiments only through the ``StageDriver`` protocol, so a test
can script what each experiment returns and check what the stage does with it: when the interleaved
stage keeps a round, when patience ends it, how ``tolerance`` and ``mode`` count. The spec is a real
``Spec`` (validated as ``hartune run`` would); only Ray and MLflow are left out, because this logic has
no side effect. ``tests/tune/test_loss_stages.py`` runs the same stages end to end on real Ray and MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
