"""Where runs go: the MLflow tracking URI, checked before any compute starts."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from hartune.registry import ConfigError


def resolve_uri(uri: str | None, workdir: Path | None = None) -> str:
    """``None`` -> ``MLFLOW_TRACKING_URI`` if set (the compose stack sets it), else MLflow 3's own
    default, ``sqlite:///<cwd>/mlflow.db`` (absolute, so Ray workers whose cwd is a trial folder write
    to the same store)."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or None  # the spec's, else the environment's
    if uri is None:
        return f"sqlite:///{(workdir or Path.cwd()).resolve() / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(workdir or Path.cwd()).resolve() / uri.removeprefix('sqlite:///')}"
    return uri


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """An ``http(s)://`` server must answer ``/health``; a store path's folder must exist."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as r:
                if r.status == 200:
                    return
                raise ConfigError(f"tracking.uri={uri!r}: /health answered {r.status}; accepted: a running mlflow server")
        except urllib.error.HTTPError as e:
            raise ConfigError(f"tracking.uri={uri!r}: /health answered {e.code}; accepted: a running mlflow server") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ConfigError(
                f"tracking.uri={uri!r}: unreachable ({reason}); accepted: a running mlflow server or sqlite:///FILE"
            ) from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise ConfigError(f"tracking.uri={uri!r}: folder {folder} does not exist")


@contextlib.contextmanager
def first_use_lock(uri: str) -> Iterator[None]:
    """Around the first use of a SQLite store in this process: an exclusive lock on ``<file>.lock``, so
    that two runs starting at once on a new store do not both create its tables (MLflow's migrations
    and Optuna's ``create_all`` are not safe against a second process doing the same: "duplicate column
    name"). Other stores (a server, PostgreSQL) handle concurrent clients themselves: no lock."""
    import fcntl

    if not uri.startswith("sqlite:///"):
        yield
        return
    path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def require_store(uri: str) -> None:
    """For the commands that only read (``ls``, ``report``, ``promote``, ``ui``): the store must exist
    already, and nothing is created to find out (a SQLite URI's first client creates the file)."""
    if uri.startswith(("http://", "https://")):
        check_reachable(uri)
        return
    if uri.startswith("sqlite:///"):
        present = Path(uri.removeprefix("sqlite:///")).is_file()
    elif uri.startswith("file:") or "://" not in uri:  # a file store's folder
        present = Path(uri.removeprefix("file://").removeprefix("file:")).is_dir()
    else:  # a database server (postgresql://...): it answers for itself
        return
    if not present:
        raise ConfigError(f"no MLflow store at {redact(uri)}; pass --uri or run where it is")


def ui_command(uri: str) -> str:
    """The exact command that opens these results in the MLflow UI."""
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    return f"mlflow ui --backend-store-uri {uri}"


def git_commit(cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=cwd, capture_output=True, text=True, timeout=5,
                               check=False)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@/\s]+@")


def redact(text: str) -> str:
    """``postgresql://user:secret@host`` -> ``postgresql://user:***@host``: passwords in URIs are never
    printed nor logged (the spec text, the tracking and Optuna URIs)."""
    return CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)
