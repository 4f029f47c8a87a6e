"""What a person sees while a spec runs: the stage view's counts, best and ETA (no Ray needed), and a real
spec run through the real CLI with its output piped, as in CI: one line per ended trial, one summary line
per stage, no Python warning, nothing of Ray's reporter or the workers' logs."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hartune.tune.progress import LineView, StageState, duration, trial_label
from spec_runs import watch_entry


def test_counts_best_and_eta_of_a_stage() -> None:
    st = StageState("table2", "grid", "val_f1_macro", "max", total=10)
    st.running = {"a": "x", "b": "y"}
    st.counts.update(finished=3, stopped=1)
    st.started -= 40  # 40 s elapsed, 4 ended: 10 s per trial, 6 to go
    assert st.pending == 4
    assert st.eta_s() == pytest.approx(60, abs=1)
    st.offer(0.5, "A")
    st.offer(float("nan"), "B")
    st.offer(0.7, "C")
    st.offer(0.6, "D")
    assert st.best == (0.7, "C")
    assert st.counts_text() == "3/10 done, 2 running, 4 pending, 1 stopped early, 0 failed"
    assert "ETA 1m00s" in st.clock_text() or "ETA 59s" in st.clock_text()


def test_line_view_prints_a_line_per_ended_trial_and_the_stage_line() -> None:
    out = io.StringIO()
    v = LineView(out)
    v.stage_start("search", "search", "val_loss", "min", total=2)
    cfg = {"variant": "base", "dataset": "watch", "seed": 0, "train.lr": 0.00123456}
    v.trial_start("t1", cfg)
    v.trial_result("t1", cfg, {"val_loss": 0.9, "epoch": 1})
    v.trial_end("t1", cfg, "stopped", {"val_loss": 0.9, "epoch": 1})
    v.trial_end("t2", {"variant": "base", "dataset": "watch", "seed": 0, "train.lr": 0.01}, "failed", {})
    v.trial_end("t3", {"variant": "base", "dataset": "watch", "seed": 0, "train.lr": 0.002}, "finished", {"val_loss": 0.8})
    v.stage_end("stage search: 1 finished, 1 stopped early, 1 failed; best train.lr=0.002 (val_loss 0.8000)")
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    # the best so far is of finished trials only: a stopped trial's last epoch is not a result
    assert lines[0].startswith("  search [1/2] lr=0.001235 @ watch-s0 stopped early at epoch 1 (val_loss 0.9000); "
                               "no best yet; ")
    assert lines[1].startswith("  search [2/2] lr=0.01 @ watch-s0 failed; no best yet; ")
    assert lines[2].startswith("  search [3/2] lr=0.002 @ watch-s0 finished (val_loss 0.8000); best 0.8000 lr=0.002 @ watch-s0; ")
    assert lines[3].startswith("stage search:")
    assert LineView(io.StringIO(), quiet=True).show_trial(StageState("s", "grid", "m", "max", 1), "x", "finished", {}) is None


def test_labels_and_durations() -> None:
    assert trial_label({"variant": "CNN", "dataset": "watch", "seed": 1, "fold": 2}) == "CNN-watch-s1-f2"
    assert [duration(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]


SPEC = {
    "name": "piped",
    "seeds": [0],
    "max_concurrent": 2,
    "datasets": {"watch": watch_entry(epochs=2, lr=0.003)},
    "models": {"cnn": {"name": "cnn", "channels": [8, 8]}},
    "stages": [
        {"name": "grid", "kind": "grid", "variants": {"A": {"model": "cnn"}, "B": {"model": "cnn", "train": {"lr": 0.01}}}},
        {"name": "search", "kind": "search", "from_stage": "grid", "sampler": "random", "num_samples": 2,
         "space": {"train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}},
         "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2}},
    ],
}
NOISE = re.compile(r"Warning|WARNING|USDT|Creating initial|Trial status|started with configuration|"
                   r"\(run_trial pid=|Token authentication|snapshotting|new study created|Traceback")


@pytest.mark.slow
def test_piped_run_prints_one_line_per_trial_and_per_stage(tmp_path) -> None:
    spec = {**SPEC, "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"}, "storage": str(tmp_path / "ray")}
    path = tmp_path / "piped.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS",)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "platform"), env.get("PYTHONPATH", "")])
    out = subprocess.run(check=False, args=[sys.executable, "-m", "hartune.cli", "run", str(path)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env, timeout=900)
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stdout[-3000:]
    assert [ln for ln in lines if NOISE.search(ln)] == [], out.stdout
    trial_lines = [ln for ln in lines if re.match(r"  (grid|search) \[\d/\d\] ", ln)]
    assert len(trial_lines) == 4
    assert any(ln.startswith("stage grid: 2 finished, 0 stopped early, 0 failed in ") for ln in lines)
    assert any(ln.startswith("stage search: ") for ln in lines)
    assert lines[-2].startswith("piped: done in ") and lines[-1] == f"open the results: hartune ui {path}"
    assert len(lines) == 4 + 2 + 2, out.stdout  # nothing else
    # Ray's own output stayed in its storage folder: each trial's stdout and stderr beside its results
    logs = list((tmp_path / "ray").glob("piped.grid.*/run_trial_*/stderr"))
    assert len(logs) == 2, sorted(p.relative_to(tmp_path) for p in (tmp_path / "ray").rglob("*") if p.is_file())[:40]
