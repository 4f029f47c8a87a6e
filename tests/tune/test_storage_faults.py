"""Issue 21 point 6: unwritable storage or a full disk, caught before any compute with one line.

Tests may run as root, whom permission bits (chmod) do not stop, so the faults are ones that fail for
root too: a folder path that runs through a regular file (``NotADirectoryError``), and a full disk
simulated with ``RLIMIT_FSIZE`` (``prlimit``: every write past the limit fails with ``EFBIG``, "File too
large", as ``ENOSPC`` would on a full disk). The probe writes and removes one small file, so nothing is
left behind, and no MLflow store, Ray session or Optuna database is created.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hartune.cli import main
from hartune.integrity import PROBE_BYTES, probe_writable
from spec_runs import watch_entry

SPEC = {
    "name": "probe",
    "seeds": [0],
    "datasets": {"watch": watch_entry(epochs=1)},
    "models": {"cnn": {"name": "cnn", "channels": [8], "hidden": 8}},
    "stages": [{"name": "grid", "kind": "grid", "variants": {"A": {"model": "cnn"}}}],
}


def write_spec(d: Path, storage: str) -> Path:
    path = d / "probe.yaml"
    full = {**SPEC, "tracking": {"uri": f"sqlite:///{d}/mlflow.db"}, "storage": storage}
    path.write_text(yaml.safe_dump(full, sort_keys=False))
    return path


def listing(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


def test_probe_finds_a_writable_folder_and_leaves_nothing(tmp_path: Path) -> None:
    assert probe_writable(tmp_path / "not" / "yet") is None  # the nearest existing folder is probed
    assert list(tmp_path.iterdir()) == []


@pytest.mark.faults
def test_storage_under_a_file_is_one_line_before_any_compute(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    spec = write_spec(tmp_path, str(tmp_path / "afile" / "ray"))
    before = listing(tmp_path)
    assert main(["run", str(spec), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "storage" in err[0] and str(tmp_path / "afile") in err[0] and "not a folder" in err[0]
    assert listing(tmp_path) == before  # no mlflow.db, no .hartune, no ray folder


@pytest.mark.faults
def test_unwritable_artifact_folder_is_one_line_naming_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new experiment's artifacts go to ./mlruns (MLflow's default for a SQLite store)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlruns").write_text("a file where the artifact folder goes")
    spec = write_spec(tmp_path, str(tmp_path / "ray"))
    before = listing(tmp_path)
    assert main(["run", str(spec), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "artifact folder" in err[0] and str(tmp_path / "mlruns") in err[0], err
    assert listing(tmp_path) == before


@pytest.mark.faults
def test_full_disk_is_one_line_before_any_compute(tmp_path: Path) -> None:
    """``hartune run`` in a process whose file-size limit is below the probe's size: a full disk."""
    spec = write_spec(tmp_path, str(tmp_path / "ray"))
    limit = PROBE_BYTES // 4
    code = (
        "import resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "from hartune.cli import main; "
        f"sys.exit(main(['run', {str(spec)!r}, '--quiet']))"
    )
    before = listing(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "storage" in lines[0] and "File too large" in lines[0], lines[0]
    assert listing(tmp_path) == before
