"""``ablations/baselines_quick.yaml`` as shipped: its baselines stage holds exactly the model registry (a
newly registered model fails here until its row is added), and on a tiny run through the real CLI
every one of those trials' MLflow runs carries the deployment figures (``deploy_*``, USAD Table 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hartune.models import MODELS, torch_models
from hartune.spec import load_spec
from spec_runs import run_spec

SPEC = Path(__file__).resolve().parents[1] / "ablations" / "baselines_quick.yaml"
DEPLOY = (
    "num_parameters",
    "size_on_disk_bytes",
    "peak_memory_bytes",
    "latency_median_ms",
    "latency_p95_ms",
    "time_100_windows_ms",
    "threads",
    "realtime_budget_ms",
    "realtime_pass",
)


def test_the_baselines_stage_runs_every_registered_model_once() -> None:
    spec, _ = load_spec(SPEC)
    names = [run.model.name for _, run in spec.stage("baselines").candidate_runs(spec, 0)]
    assert sorted(names) == MODELS.names(), set(names) ^ set(MODELS.names())


def test_the_pareto_stage_is_kept() -> None:
    spec, _ = load_spec(SPEC)
    pareto = spec.stage("pareto")
    assert (
        pareto.kind == "search"
        and pareto.sampler == "nsga2"
        and pareto.metric == ["val_f1_macro", "latency_ms"]
    )


@pytest.mark.slow
def test_every_baseline_trial_run_carries_its_deployment_figures(tmp_path: Path, ray_local) -> None:
    """The shipped baselines stage on a tiny setting: one window per recording, one epoch."""
    raw = yaml.safe_load(SPEC.read_text())
    raw["stages"] = [s for s in raw["stages"] if s["name"] == "baselines"]
    watch = raw["datasets"]["watch"]
    watch["window"]["stride"] = 10_000  # one 2-s window per recording
    watch["train"]["epochs"] = 1
    rc, client = run_spec(tmp_path, raw)
    assert rc == 0
    exp = client.get_experiment_by_name(raw["tracking"]["experiment"])
    trials = [
        r
        for r in client.search_runs([exp.experiment_id], max_results=200)
        if r.data.tags.get("hartune.level") == "trial"
    ]
    assert sorted(t.data.params["model.name"] for t in trials) == MODELS.names()
    for t in trials:
        name, m = t.data.params["model.name"], t.data.metrics
        assert t.info.status == "FINISHED", name
        missing = [k for k in DEPLOY if f"deploy_{k}" not in m]
        assert not missing, (name, missing)
        assert m["deploy_num_parameters"] == m["num_parameters"] > 0, name
        assert m["deploy_latency_p95_ms"] >= m["deploy_latency_median_ms"] > 0, name
        assert m["deploy_size_on_disk_bytes"] > 0 and m["deploy_peak_memory_bytes"] > 0, name
        assert m["deploy_threads"] == 1.0, name  # resources: {cpu: 1} -> one torch thread per trial
        # watch: 100 samples at 50 Hz -> a 100 ms budget (5% of the window, USAD §4.4)
        assert m["deploy_realtime_budget_ms"] == pytest.approx(100.0), name
        assert m["deploy_realtime_pass"] == float(m["deploy_latency_median_ms"] <= 100.0), name
        if name in torch_models():  # float32 weights: at least 4 bytes a parameter on disk
            assert m["deploy_size_on_disk_bytes"] > 4 * m["num_parameters"], name
