"""The package tree is the architecture: no import circle, stage kinds blind to ``hartune.spec``, and the
MLflow run tree's tag names owned by one module. Read from the source (every import statement,
module-level and function-local), so a late import cannot hide a circle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import hartune

ROOT = Path(hartune.__file__).resolve().parent


def modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODULES = modules()


def resolve(name: str) -> str:
    """The hartune module an import names (``hartune.tune.stages.GridStage`` -> ``hartune.tune.stages``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def runtime_imports(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every hartune import that runs: at module level or inside a function, but not
    under ``if TYPE_CHECKING:`` (type references only, never executed)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for stmt in node.body for n in ast.walk(stmt)}
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(resolve(a.name), node.lineno) for a in node.names if a.name.startswith("hartune")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hartune"):
            out.append((resolve(node.module), node.lineno))
            out += [(f"{node.module}.{a.name}", node.lineno) for a in node.names if f"{node.module}.{a.name}" in MODULES]
    return out


def graph() -> dict[str, set[str]]:
    return {name: {m for m, _ in runtime_imports(p) if m and m != name} for name, p in MODULES.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert len(MODULES) > 50
    assert cycles(graph()) == []


def test_stage_kinds_see_the_spec_only_through_a_protocol() -> None:
    """Inside tune/, only the runner (the edge that runs a spec) imports ``hartune.spec``, at module level."""
    offenders = []
    for name, path in MODULES.items():
        if not name.startswith("hartune.tune.") or name == "hartune.tune.runner":
            continue
        offenders += [f"{path.name}:{line}" for m, line in runtime_imports(path) if m == "hartune.spec"]
        text = path.read_text()
        offenders += [f"{path.name}: TYPE_CHECKING import" for _ in re.finditer(r"from hartune\.spec import", text)]
    assert offenders == []


@pytest.mark.parametrize("tag", ["hartune.level", "hartune.stage", "hartune.trial_id", "hartune.step",
                                 "hartune.best", "hartune.status", "hartune.variant"])
def test_run_tree_tag_names_live_in_one_module(tag: str) -> None:
    literal = re.compile(rf"""["']{re.escape(tag)}(_[a-z_]+)?["']""")
    holders = sorted(name for name, p in MODULES.items() if literal.search(p.read_text()))
    assert holders == ["hartune.tracking.runs"]


# Libraries that only some runs use, each about 1 s to import, are left out of start-up: the driver of
# `hartune run` (validating the spec, up to its first trial) needs none of scikit-learn, scipy.stats or
# matplotlib; a trial process before training (the modules `run_trial` loads) leaves out what only a
# forest or the generator's quality report needs (every trial computes metrics and draws figures), and
# Optuna, which only the driver's searcher uses.
DRIVER = ("hartune.cli", "hartune.spec", "hartune.tune.runner", "hartune.tune.stages")
TRIAL = ("hartune.tune.trainable", "hartune.augment.source", "hartune.tracking.trial", "hartune.train",
         "hartune.tune.datastore", "hartune.tune.progress",
         "hartune.spec")  # unpickling the trial's StageContext (its SpecView) loads the spec and its stage kinds


@pytest.mark.parametrize(("modules", "left_out"), [
    (DRIVER, ("sklearn", "scipy.stats", "matplotlib.figure")),
    (TRIAL, ("sklearn.ensemble", "sklearn.linear_model", "optuna")),
], ids=["driver", "trial"])
def test_start_up_leaves_out_the_libraries_only_some_runs_use(modules: tuple[str, ...], left_out: tuple[str, ...]) -> None:
    import subprocess
    import sys

    code = (f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; "
            f"print(','.join(m for m in {left_out!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_forest_pickled_when_its_steps_lived_in_models_forest_still_loads() -> None:
    """The pipeline's steps moved to ``hartune.models.forest_steps``; a checkpoint or registered model
    pickled before names ``hartune.models.forest.WindowFeatures``, which still resolves."""
    import pickle

    import numpy as np

    from hartune.models import create_estimator

    pipe = create_estimator("random_forest", in_channels=2, num_classes=2, window=5, n_estimators=2)
    x = np.random.default_rng(0).standard_normal((10, 5, 2))
    pipe.fit(x, np.arange(10) % 2)
    new = pickle.dumps(pipe, protocol=2)  # protocol 2 writes module paths as text
    old = new.replace(b"hartune.models.forest_steps", b"hartune.models.forest")
    assert old != new
    assert (pickle.loads(old).predict(x) == pipe.predict(x)).all()
