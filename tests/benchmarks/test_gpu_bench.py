"""``benchmarks/gpu.py`` end to end on CPU (``--device cpu --tiny``), as on the GPU machine: without Ray,
MLflow or Optuna, which the lent GPU machine does not have."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1600)  # three processes importing torch and training; minutes on 2 busy cores
def test_gpu_benchmark_runs_on_cpu_without_ray_mlflow_optuna(tmp_path: Path) -> None:
    absent = tmp_path / "absent"
    for name in ("ray", "mlflow", "optuna"):  # importing any of them fails, in every worker process too
        (absent / name).mkdir(parents=True)
        (absent / name / "__init__.py").write_text(f"raise ImportError('{name} is not on the GPU machine')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(absent), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "benchmarks/gpu.py",
        "--device",
        "cpu",
        "--tiny",
        "--model",
        "cnn",
        "--modes",
        "fp32,bf16",
        "--concurrency",
        "1,2",
        "--trials",
        "2",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "gpu.json").read_text())
    assert set(report["epoch_time"]) == {"fp32", "bf16"}
    for mode in report["epoch_time"].values():
        assert mode["median_s"] > 0 and mode["windows"] > 0
    rows = report["concurrency"]
    assert [r["concurrent"] for r in rows] == [1, 2]
    assert all(r["trainings"] == 2 and r["trials_per_hour"] > 0 for r in rows)
    assert rows[1]["threads_per_worker"] == max(1, (os.cpu_count() or 1) // 2)
    assert "| at a time | wall s | trials/h |" in proc.stdout


def test_unknown_mode_is_one_line_before_any_training(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--device", "cpu", "--modes", "fp32,fp8"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "--modes: unknown ['fp8']; accepted: fp32, bf16, compiled, compiled_bf16"
    )
