"""The retry window of ``hartune.tracking.retry`` against real endpoints: a port nobody listens on (a
refused connection is an outage: waited out, then one line naming the server) and a real SQLite store
(a refusal such as an unknown run is raised at once, unchanged)."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from hartune.tracking import runs
from hartune.tracking.retry import TrackingUnavailable
from live_servers import free_port


def test_an_unreachable_server_fails_after_the_window_with_one_line_naming_it() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    c = runs.client(uri, retry_s=1.5)
    with pytest.raises(TrackingUnavailable) as e:
        c.search_experiments()
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(
        f"tracking server {uri} did not answer search_experiments for 1.5 s"
    )
    assert "(tracking.retry_s=1.5)" in msg


def test_a_refusal_is_raised_at_once_unchanged(tmp_path) -> None:
    c = runs.client(f"sqlite:///{tmp_path}/mlflow.db", retry_s=600)  # a wait here would time the test out
    with pytest.raises(MlflowException) as e:
        c.get_run("0" * 32)
    assert not isinstance(e.value, TrackingUnavailable) and e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_buffered_write_is_kept_while_the_store_is_out() -> None:
    """One attempt, no waiting: False (the caller keeps the metrics) while nobody answers."""
    c = runs.client(f"http://127.0.0.1:{free_port()}", retry_s=600)
    assert runs.log_metric_items_once(c, "0" * 32, runs.metric_items({"val_loss": 1.0}, step=1)) is False


def test_three_processes_open_a_new_sqlite_store_at_once(tmp_path) -> None:
    """MLflow's table creation is not safe against a second process doing the same (with plain clients
    most of such starts fail: "duplicate column name", "table ... already exists"); ``runs.client`` makes
    the first use of a SQLite store under a file lock."""
    import subprocess
    import sys

    code = f"from hartune.tracking import runs; print(len(runs.client('sqlite:///{tmp_path}/m.db').search_experiments()))"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e[-1500:] for _, e in outs]
    assert [o.strip() for o, _ in outs] == ["1", "1", "1"]  # the Default experiment, once
