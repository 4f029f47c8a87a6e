"""`hartune run ablations/usad_quick.yaml` end to end (goal <= 5 min on 2 cores): a fresh tracking store,
Ray storage and generator cache in a temporary folder, so nothing is reused from earlier runs.
   python benchmarks/usad_quick_e2e.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        spec = yaml.safe_load((ROOT / "ablations" / "usad_quick.yaml").read_text())
        spec["storage"] = f"{d}/ray"  # the generator cache sits beside it: fresh too
        spec["tracking"]["uri"] = f"sqlite:///{d}/mlflow.db"
        path = Path(d) / "usad_quick.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "hartune.cli", "run", str(path), "--quiet"], cwd=ROOT,
                             capture_output=True, text=True, check=True, env=dict(os.environ)).stdout
        wall = time.perf_counter() - t0
    print("\n".join(line for line in out.splitlines() if "stage" in line or "done in" in line))
    print(f"usad_quick.yaml end to end: {wall:.0f} s = {wall / 60:.1f} min on {os.cpu_count()} cores (goal <= 5 min)")


if __name__ == "__main__":
    main()
