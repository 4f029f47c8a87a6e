"""The driver of `hartune run` under pyinstrument: overhead.py's spec (N copies of a small CNN on the
watch data, `cores` at a time) in a fresh folder, through `hartune.cli.main` (the console script's
`entry()` ends the process with `os._exit`, before pyinstrument could write its report). Where the
driver's own time goes: imports, the store, `ray.init`, `Tuner.fit` (waiting on the trials).

   pyinstrument -o benchmarks/profiles/driver_after_8x10.txt benchmarks/profile_driver.py [--n 8] [--epochs 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import overhead  # the benchmark's spec, from this folder


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        spec = overhead.write_spec(Path(tmp), args.n, args.epochs, args.cores)
        os.chdir(tmp)
        try:
            from hartune.cli import main as hartune

            return hartune(["run", str(spec), "--quiet"])
        finally:
            os.chdir(here)  # the profiler resolves paths against the working folder after this returns


if __name__ == "__main__":
    sys.exit(main())
