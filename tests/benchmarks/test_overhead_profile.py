"""``benchmarks/overhead.py --profile``'s summary of py-spy's raw stacks (pure logic on files written
here): the CPU seconds of the processes that ran trials, by phase and by the package being imported."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def overhead():
    spec = importlib.util.spec_from_file_location("overhead_bench", ROOT / "benchmarks" / "overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


IMPORT = "_find_and_load (<frozen importlib._bootstrap>:1176)"
WORKER = "<module> (ray/_private/workers/default_worker.py:323);Worker.main_loop (ray/_private/worker.py:1069)"


def stack(*frames: str) -> str:
    return ";".join(frames)


def test_an_import_is_charged_to_the_first_package_imported_below_the_importer() -> None:
    m = overhead()
    # the worker's own module frame is the importer, not the import; hartune's modules are skipped
    torch_via_hartune = stack(WORKER, IMPORT, "<module> (hartune/tune/trainable.py:15)", IMPORT,
                              "<module> (hartune/train/__init__.py:3)", IMPORT, "<module> (torch/__init__.py:9)",
                              IMPORT, "<module> (torch/nn/__init__.py:2)")
    assert m.imported_package(torch_via_hartune) == "torch"
    assert m.imported_package(stack(WORKER, IMPORT, "<module> (hartune/overlays.py:1)")) == "hartune"
    assert m.imported_package(stack("Thread.run (threading.py:1)", IMPORT, "<module> (six.py:1)")) == "six"
    assert m.imported_package(stack(WORKER, IMPORT, "_compile_bytecode (<frozen importlib>:729)")) == "other"


def test_the_summary_splits_trial_processes_by_phase_and_imports_by_package(tmp_path: Path) -> None:
    m = overhead()
    run = "run_trial (hartune/tune/trainable.py:230)"
    epochs = "run (hartune/train/recipe.py:300)"
    (tmp_path / "worker-1.txt").write_text("\n".join([
        stack(WORKER, IMPORT, "<module> (torch/__init__.py:9)") + " 300",
        stack(WORKER, IMPORT, "<module> (mlflow/__init__.py:1)") + " 100",
        stack(WORKER, run, epochs) + " 500",
    ]) + "\n")
    (tmp_path / "worker-2.txt").write_text(stack(WORKER, "idle (ray/_private/worker.py:1)") + " 50\n")
    (tmp_path / "driver-3.txt").write_text(stack("<module> (hartune/cli.py:1)") + " 70\n")
    roles, phases, imports, trial_processes = m.profile_summary(tmp_path)
    assert trial_processes == 1
    assert roles == {"trial workers": 9.0, "other Ray workers (idle, agents)": 0.5,
                     "driver (CLI, Tune loop, MLflow callbacks)": 0.7}
    assert phases == {"imports (once per worker process)": 4.0, "training: epochs, validation": 5.0}
    assert imports == {"torch": 3.0, "mlflow": 1.0}
