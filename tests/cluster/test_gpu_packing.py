"""GPU packing on a real Ray cluster: a head with one (logical) GPU and 4 CPUs. ``resources: {gpu: 0.25}``
runs four trials on the one GPU at once, ``gpu: 0.5`` two: read back from the trial runs' start and end
times in MLflow. Ray schedules by declared resources, so the logical GPU shows the placement without a
device (a trial's ``device: auto`` then trains on the CPU). About a minute."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cluster_helpers import ray_cluster
from mlflow.tracking import MlflowClient

from spec_runs import watch_entry

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SPEC = {
    "seeds": [0],
    "max_concurrent": 4,
    "datasets": {"watch": watch_entry(epochs=16)},
    "models": {"cnn": {"name": "cnn", "channels": [16, 16], "hidden": 32}},
    "stages": [{"name": "grid", "kind": "grid",
                "variants": {k: {"model": "cnn", "train": {"lr": lr}} for k, lr in zip("ABCD", (1e-3, 2e-3, 3e-3, 4e-3))}}],
}


def most_at_once(intervals: list[tuple[int, int]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    now = best = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


@pytest.fixture(scope="module")
def gpu_cluster():
    with ray_cluster([], [], head=["--num-cpus", "4", "--num-gpus", "1"]) as (_, gcs):
        yield gcs


@pytest.mark.parametrize("fraction, expected", [(0.25, 4), (0.5, 2)])
def test_fractional_gpus_pack_trials_on_one_gpu(gpu_cluster, tmp_path: Path, fraction: float, expected: int) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    spec = {**SPEC, "name": f"packing{int(fraction * 100)}", "resources": {"cpu": 1, "gpu": fraction},
            "tracking": {"uri": uri}, "storage": str(tmp_path / "ray")}
    path = tmp_path / "packing.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "hartune.cli", "run", str(path), "--quiet", "--address", gpu_cluster],
                          cwd=tmp_path, capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name(spec["name"])
    trials = c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
    assert len(trials) == 4 and all(t.info.status == "FINISHED" for t in trials)
    assert most_at_once([(t.info.start_time, t.info.end_time) for t in trials]) == expected
