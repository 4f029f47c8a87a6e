"""The command as a person meets it: help written for people (a purpose and an example for every
command, the commands in the order of the workflow), and read-only commands that never write: on a
missing store they say so in one line, exit 2 and create nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hartune.cli import build_parser, main

WORKFLOW = ["validate", "run", "ls", "report", "promote", "ui", "submit", "job", "train"]


def test_top_level_help_lists_the_commands_in_workflow_order(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "Only this module" not in out  # no internal docstring
    listed = [line.split()[0] for line in out.split("commands:")[1].split("workflow:")[0].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert listed == WORKFLOW


@pytest.mark.parametrize("command", WORKFLOW)
def test_every_command_has_a_purpose_and_an_example(command, capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    sub = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == command)[1]
    assert sub.description and " ".join(sub.description.split()) in " ".join(out.split())  # the purpose, one line
    assert "\n" not in sub.description
    example = out.split("example:\n", 1)[1].strip()
    assert example.startswith(f"hartune {command}")


@pytest.mark.parametrize("argv", [["report", "nosuch"], ["ls"], ["promote", "nosuch"], ["ui", "nosuch"]])
def test_read_only_commands_on_a_missing_store_create_nothing(argv, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(argv) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    expected = f"hartune: error: no MLflow store at sqlite:///{tmp_path.resolve()}/mlflow.db; pass --uri or run where it is"
    assert lines == [expected]
    assert list(tmp_path.iterdir()) == []


def test_report_in_an_empty_folder_as_a_real_command(tmp_path) -> None:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run(check=False, args=[sys.executable, "-m", "hartune.cli", "report", "X"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().count("\n") == 0 and "no MLflow store at" in out.stderr
    assert list(tmp_path.iterdir()) == []


def _entry(code: str, tmp_path) -> subprocess.CompletedProcess[str]:
    """A process that runs ``code`` and then the ``hartune`` console script's ``entry()``."""
    import subprocess

    return subprocess.run([sys.executable, "-c", code + "\nfrom hartune.cli import entry\nentry()"],
                          check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("argv", "code"), [(["validate", "missing.yaml"], 2), (["--help"], 0), (["bogus"], 2)])
def test_the_command_keeps_its_exit_code_output_and_exit_handlers(argv, code, tmp_path) -> None:
    """``entry`` ends the process with ``os._exit`` (issue 20): the exit code, the flushed output and the
    handlers registered to run at exit survive it."""
    out = _entry(f"import atexit, sys\natexit.register(print, 'exit handler ran')\nsys.argv = ['hartune', *{argv!r}]",
                 tmp_path)
    assert out.returncode == code
    assert out.stdout.rstrip().endswith("exit handler ran")
    if code == 2:
        assert out.stderr.strip().splitlines()[-1].startswith("hartune: error:")


def test_the_command_shuts_down_the_local_ray_it_started(tmp_path) -> None:
    """Ray's own exit handler still stops the local cluster's processes (GCS, raylet, workers)."""
    import os
    import time

    out = _entry("import os, ray, sys\nray.init(num_cpus=1, include_dashboard=False)\n"
                 "kids = [p for p in os.listdir('/proc') if p.isdigit() and "
                 "open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid())]\n"
                 "print(' '.join(kids), flush=True)\nsys.argv = ['hartune', '--help']", tmp_path)
    assert out.returncode == 0
    kids = [int(p) for p in out.stdout.splitlines()[0].split()]
    assert kids  # Ray's GCS and raylet, at least
    deadline = time.monotonic() + 30
    alive = kids
    while alive and time.monotonic() < deadline:
        alive = [p for p in kids if os.path.exists(f"/proc/{p}")
                 and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
        time.sleep(0.5)
    assert alive == []
