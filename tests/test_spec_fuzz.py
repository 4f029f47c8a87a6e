"""Issue 21 point 8: property-based fuzzing of every shipped spec (``ablations/*.yaml``) and search space
(``search_spaces/*.yaml``) through the CLI.

Hypothesis mutates the parsed document (a value replaced by a wrong type, a huge number, NaN/inf or
unicode text; a key deleted; an unknown key added; a key renamed; two sections swapped; a node turned
into a YAML alias of another) and then the text (a tab in the indentation, a line given twice so a key
repeats, a cut, a second document, a Python tag, bytes that are not UTF-8). ``hartune validate --no-data``
or ``hartune run --dry-run`` (``main()`` in-process, in a copy of the repository's ablations/ and
search_spaces/) must exit 0 with a plan, or exit 2 with exactly one line; never a traceback; and the
folder holds exactly the files it held before. The default run tries ``DEFAULT_CASES`` cases; the
``slow`` run ``SLOW_CASES`` (at least 1,000), plus real subprocesses of the CLI.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hartune.cli import main

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(p.name for p in (ROOT / "ablations").glob("*.yaml"))
SPACES = sorted(p.name for p in (ROOT / "search_spaces").glob("*.yaml"))
BLEND_HOST = (
    "usad_quick_blend.yaml"  # usad_quick with its search over diffusion_blend.yaml (no shipped spec uses it)
)
# the spec that reads each search space: fuzzing the space file is checked through it
HOST = {
    "lr_dropout.yaml": "usad_quick.yaml",
    "loss_independent.yaml": "usad_loss_quick.yaml",
    "loss_composite.yaml": "usad_loss_quick.yaml",
    "loss_interleaved.yaml": "usad_loss_quick.yaml",
    "loss_composite_table10.yaml": "usad_full.yaml",
    "diffusion_blend.yaml": BLEND_HOST,
}
TARGETS = [(f"ablations/{s}", f"ablations/{s}") for s in SPECS] + [
    (f"search_spaces/{sp}", f"ablations/{HOST[sp]}") for sp in SPACES
]
DEFAULT_CASES, SLOW_CASES = 40, 1100
COMMANDS = (["validate", "--no-data", "--gpus", "8"], ["run", "--dry-run", "--gpus", "8"])


def test_every_search_space_has_a_host_spec() -> None:
    assert set(HOST) == set(SPACES), set(SPACES) ^ set(HOST)


def workspace() -> Path:
    """A copy of ablations/ and search_spaces/ (relative paths resolve as in the repository)."""
    d = Path(tempfile.mkdtemp(prefix="hartune-fuzz-"))
    shutil.copytree(ROOT / "ablations", d / "ablations")
    shutil.copytree(ROOT / "search_spaces", d / "search_spaces")
    quick = (d / "ablations" / "usad_quick.yaml").read_text()
    blend = quick.replace("search_spaces/lr_dropout.yaml", "search_spaces/diffusion_blend.yaml")
    (d / "ablations" / BLEND_HOST).write_text(blend.replace("name: usad_quick", "name: usad_quick_blend", 1))
    return d


def tree(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*")}


# ---------------------------------------------------------------------------------------- mutations

HUGE = st.one_of(st.integers(min_value=2**63), st.integers(max_value=-(2**63)), st.just(10**400))
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=5),
    HUGE,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),  # unicode included
    st.sampled_from(
        ["", "ce", "usad", "holdout", "grid", "tpe", "Ünïcødé", "🤖", "1e999", "-0", "~", "null"]
    ),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(min_value=0, max_value=3), max_size=2),
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every node's path; an alias (a node met twice) is walked once per place it appears."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated_doc(draw: st.DrawFn, doc: Any) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        all_paths = paths(doc)
        path = draw(st.sampled_from(all_paths))
        op = draw(st.sampled_from(["replace", "delete", "unknown", "rename", "swap", "alias"]))
        if not path:  # the whole document
            if op == "replace":
                doc = draw(LEAVES)
            continue
        parent, last = get(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[last] = draw(LEAVES)
        elif op == "delete":
            del parent[last]
        elif op == "unknown" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(LEAVES)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = parent.pop(last)
        elif op == "swap" and isinstance(parent, dict) and len(parent) > 1:
            other = draw(st.sampled_from([k for k in parent if k != last]))
            parent[last], parent[other] = parent[other], parent[last]
        elif op == "alias":  # the same object twice: safe_dump writes an anchor and an alias
            source = draw(st.sampled_from(all_paths[1:]))
            if source[: len(path)] != path and path[: len(source)] != source:  # never a cycle
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    parent[last] = get(doc, source)
        if not isinstance(doc, (dict, list)):
            break
    return doc


def _indented_tab(text: str, i: int) -> str:
    lines = text.splitlines()
    indented = [n for n, line in enumerate(lines) if line.startswith("  ")]
    if indented:
        n = indented[i % len(indented)]
        lines[n] = "\t" + lines[n][2:]
    return "\n".join(lines)


def _twice(text: str, i: int) -> str:
    lines = text.splitlines()
    keyed = [n for n, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
    if keyed:
        n = keyed[i % len(keyed)]
        lines.insert(n + 1, lines[n])
    return "\n".join(lines)


TEXT_OPS = {
    "none": lambda t, i: t,
    "tab": _indented_tab,
    "duplicate line": _twice,
    "cut": lambda t, i: t[: i % max(1, len(t))],
    "second document": lambda t, i: t + "\n---\nname: other\n",
    "python tag": lambda t, i: t.replace(": ", ": !!python/object/apply:os.system ['true'] #", 1),
    "deep nesting": lambda t, i: t + "\nextra: " + "[" * 200 + "]" * 200 + "\n",
}


@st.composite
def case(draw: st.DrawFn) -> tuple[str, str, bytes, list[str]]:
    target, host = draw(st.sampled_from(TARGETS))
    doc = yaml.safe_load((ROOT / target).read_text())
    text = yaml.safe_dump(draw(mutated_doc(doc)), allow_unicode=True, sort_keys=False)
    text = TEXT_OPS[draw(st.sampled_from(sorted(TEXT_OPS)))](
        text, draw(st.integers(min_value=0, max_value=10**6))
    )
    raw = text.encode()
    if draw(st.integers(min_value=0, max_value=19)) == 0:
        raw += b"\xff\xfe not utf-8"
    return target, host, raw, draw(st.sampled_from(COMMANDS))


# ------------------------------------------------------------------------------------- the property


class Fuzzer:
    def __init__(self) -> None:
        self.dir = workspace()
        self.cases = self.ok = self.refused = 0

    def check(self, target: str, host: str, raw: bytes, command: list[str]) -> None:
        file = self.dir / target
        pristine = file.read_bytes()
        before = tree(self.dir)
        file.write_bytes(raw)
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.chdir(self.dir), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main([command[0], str(host), *command[1:]])
        finally:
            file.write_bytes(pristine)
            os.utime(file, ns=before[target][1:] * 2)
        self.cases += 1
        where = f"{command[0]} {host} with {target} =\n{raw.decode(errors='replace')[:2000]}"
        assert "Traceback" not in err.getvalue(), where
        assert rc in (0, 2), (rc, where)
        if rc == 2:
            lines = err.getvalue().strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("hartune: error: "), (err.getvalue(), where)
            self.refused += 1
        else:
            assert ("valid" if command[0] == "validate" else "stage ") in out.getvalue(), (
                out.getvalue(),
                where,
            )
            self.ok += 1
        assert tree(self.dir) == before, (
            f"something was written: {set(tree(self.dir)) ^ set(before)} ({where})"
        )

    def run(self, cases: int) -> None:
        @settings(
            max_examples=cases,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case())
        def prop(c: tuple[str, str, bytes, list[str]]) -> None:
            self.check(*c)

        try:
            prop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.slow
def test_the_unmutated_specs_plan() -> None:
    """The baseline: every target as shipped gives exit 0 (so a refusal below is the mutation's)."""
    f = Fuzzer()
    try:
        for target, host in TARGETS:
            for command in COMMANDS:
                f.check(
                    target,
                    host,
                    (ROOT / target).read_bytes()
                    if target.startswith("search")
                    else (f.dir / target).read_bytes(),
                    command,
                )
    finally:
        shutil.rmtree(f.dir, ignore_errors=True)
    assert f.ok == f.cases == 2 * len(TARGETS)


def test_fuzzed_specs_and_spaces_plan_or_give_one_line() -> None:
    f = Fuzzer()
    f.run(DEFAULT_CASES)
    assert (
        f.cases >= DEFAULT_CASES and f.refused > 0
    )  # (these 40 are all refusals; the slow run has plans too)


@pytest.mark.slow
def test_fuzzed_specs_and_spaces_at_least_a_thousand_cases() -> None:
    f = Fuzzer()
    f.run(SLOW_CASES)
    print(f"spec fuzzing: {f.cases} cases, {f.ok} planned, {f.refused} refused with one line")
    assert f.cases >= 1000 and f.refused > 0 and f.ok > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("seeds: [0, 1]", "seeds: [0, 1]\nseeds: [2]"),  # a key twice
        lambda t: t.replace("  watch:", "\twatch:", 1),  # a tab
        lambda t: t.replace("num_samples: 6", "num_samples: 1e999"),  # a huge number
        lambda t: t.replace("kind: search", "kind: sëarch"),  # unicode in a name
    ],
    ids=["duplicate-key", "tab", "huge", "unicode"],
)
def test_real_cli_process_refuses_with_one_line(edit, tmp_path: Path) -> None:
    spec = tmp_path / "ablations" / "usad_quick.yaml"
    shutil.copytree(ROOT / "ablations", spec.parent)
    shutil.copytree(ROOT / "search_spaces", tmp_path / "search_spaces")
    spec.write_text(edit(spec.read_text()))
    before = tree(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "hartune.cli", "run", "--dry-run", str(spec)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(spec) in done.stderr
    assert tree(tmp_path) == before
