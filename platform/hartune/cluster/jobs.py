"""A spec as a Ray Job: ``hartune run SPEC --quiet --address auto`` on a cluster, through the Jobs API.

The Jobs API is the head node's dashboard port (8265), so the cluster needs ``ray[default]``. The
submitter uploads a working directory (the project folder holding the spec), the job's driver runs on the
head node and its trials go wherever Ray places them.

What is checked here, before anything is uploaded: the spec's types and names, the run config of every
grid trial and of every corner of every search space, the trial count, and the per-trial GPUs against the
GPUs the cluster has right now. The data and the tracking store are checked by the job's own
``hartune run`` on the cluster, where they are visible (``$HARTUNE_DATA`` and ``http://mlflow:5000`` need
not exist on a laptop); such a failure ends the job FAILED with the one-line error in its logs.

Token authentication (Ray 2.60): the Jobs client sends ``Authorization: Bearer <token>`` only when
``RAY_AUTH_MODE=token`` is set in the submitting process. So that a token alone suffices here, a token
found in ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token`` is sent as that
header unless ``RAY_AUTH_MODE=disabled``; a cluster without authentication ignores it. The token never
becomes part of the job's environment: the nodes hold their own.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hartune.registry import ConfigError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
# Passed to the job only if set here; only their names are ever printed. Values land in the cluster's job
# table (visible in its dashboard): prefer setting credentials on the nodes themselves.
PASSED_ENV = (
    "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
    "HARTUNE_OPTUNA_STORAGE", "HARTUNE_DATA",
)
EXCLUDES = [".git", ".hartune", "mlflow.db", "mlruns", "mlartifacts", "reports", "*.egg-info", "__pycache__"]
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


@dataclass(frozen=True)
class Submission:
    job_id: str
    working_dir: Path
    entrypoint: str
    env_names: list[str]
    trials: int
    notes: list[str]


def resolve_address(address: str | None) -> str:
    """``--address``, else ``$RAY_API_SERVER_ADDRESS`` or ``$RAY_ADDRESS`` (as ``ray job`` reads them), else
    the local dashboard."""
    return address or os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS


def auth_headers() -> dict[str, str]:
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if not token:
        path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
        token = path.read_text().strip() if path.is_file() else ""
    return {"Authorization": f"Bearer {token}"} if token else {}


def _one_line(address: str, e: Exception) -> ConfigError:
    text = str(e)
    if "status code 401" in text or "status code 403" in text:
        return ConfigError(f"{address}: the cluster uses token authentication and refused this client's token; "
                           "accepted: its token in RAY_AUTH_TOKEN or ~/.ray/auth_token")
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return ConfigError(f"{address}: {first}")


def client(address: str | None) -> Any:  # -> JobSubmissionClient
    """A Jobs API client; an unreachable address is a ``ConfigError`` (one line)."""
    from ray.job_submission import JobSubmissionClient

    address = resolve_address(address)
    try:
        return JobSubmissionClient(address, headers=auth_headers())
    except (ConnectionError, OSError, RuntimeError, ValueError) as e:
        raise ConfigError(f"{address}: no Ray Jobs API there ({str(e).strip().splitlines()[0]}); accepted: "
                          "the head node's dashboard address, e.g. http://HEAD:8265 (needs ray[default])") from None


def _call(c: Any, what: Callable[[], Any], job_id: str) -> Any:
    try:
        return what()
    except RuntimeError as e:
        if "status code 404" in str(e) or "does not exist" in str(e):
            raise ConfigError(f"job {job_id!r}: no such job at {c.get_address()}") from None
        raise _one_line(c.get_address(), e) from None
    except (ConnectionError, OSError) as e:
        raise _one_line(c.get_address(), e) from None


def cluster_gpus(c: Any) -> float:
    """The GPUs of the cluster's live nodes now (an autoscaling cluster: keep a GPU worker up)."""
    from ray.util.state.api import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    try:
        nodes = StateApiClient(c.get_address(), headers=auth_headers()).list(
            StateResource.NODES, options=ListApiOptions(detail=True), raise_on_missing_output=False)
    except Exception as e:  # noqa: BLE001  (the state API raises its own, unexported error types)
        raise _one_line(c.get_address(), e) from None
    return float(sum(n.resources_total.get("GPU", 0) for n in nodes if n.state == "ALIVE"))


def project_root(spec_path: Path) -> Path:
    """The working directory to upload: the nearest folder above the spec with a ``pyproject.toml`` or
    ``.git`` (the spec's search spaces and data lists travel with it), else the spec's own folder."""
    spec_path = spec_path.resolve()
    for d in spec_path.parents:
        if (d / "pyproject.toml").is_file() or (d / ".git").exists():
            return d
    return spec_path.parent


def plan(spec_path: Path, gpus: float) -> tuple[Any, str, int]:  # -> (Spec, sha256, trials)
    """The spec checked as ``hartune run`` checks it, except the data (the cluster's, not here)."""
    from hartune.spec import check_spec, load_spec

    spec, digest = load_spec(spec_path)
    return spec, digest, check_spec(spec.without_data(), spec_path, gpus, prepare_data=False)


def _notes(spec: Any) -> list[str]:
    """What a spec that runs fine locally can get wrong on a cluster."""
    out = []
    if "://" not in spec.storage and not Path(spec.storage).is_absolute():
        out.append(f"storage {spec.storage!r} is relative: on the cluster it lands in the job's temporary working "
                   "directory; use shared disk (every node) or s3:// to keep checkpoints and resume")
    if spec.tracking.uri is None and "MLFLOW_TRACKING_URI" not in os.environ:
        out.append("tracking: the cluster's MLFLOW_TRACKING_URI (unset there: a mlflow.db inside the job's "
                   "working directory, lost with it)")
    return out


def submit(spec_path: str | Path, address: str | None, extra_args: Sequence[str] = ()) -> tuple[Any, Submission]:
    """Check the spec here, upload its project folder and start ``hartune run`` on the cluster."""
    spec_path = Path(spec_path)
    c = client(address)
    spec, digest, trials = plan(spec_path, cluster_gpus(c))
    root = project_root(spec_path)
    rel = spec_path.resolve().relative_to(root).as_posix()
    entrypoint = shlex.join(["hartune", "run", rel, "--quiet", "--address", "auto", *extra_args])
    env = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
    runtime_env = {"working_dir": str(root), "excludes": EXCLUDES, "env_vars": env}
    metadata = {"hartune.spec": rel, "hartune.spec_hash": digest, "hartune.name": spec.name}
    job_id = _call(c, lambda: c.submit_job(entrypoint=entrypoint, runtime_env=runtime_env, metadata=metadata), "(new)")
    return c, Submission(job_id, root, entrypoint, sorted(env), trials, _notes(spec))


def status(c: Any, job_id: str) -> Any:  # -> JobDetails
    return _call(c, lambda: c.get_job_info(job_id), job_id)


def logs(c: Any, job_id: str) -> str:
    return _call(c, lambda: c.get_job_logs(job_id), job_id)


def stop(c: Any, job_id: str) -> bool:
    """True if a stop was requested, False if the job had already ended."""
    return bool(_call(c, lambda: c.stop_job(job_id), job_id))


def follow(c: Any, job_id: str, write: Callable[[str], Any] = sys.stdout.write, poll_s: float = 1.0) -> str:
    """Stream the job's logs until it ends; returns its final status (``SUCCEEDED``, ``FAILED``...)."""
    status(c, job_id)  # an unknown id fails here, in one line

    async def tail() -> None:
        async for chunk in c.tail_job_logs(job_id):
            write(chunk)
            getattr(sys.stdout, "flush", lambda: None)()

    try:
        asyncio.run(tail())
    except (ConnectionError, OSError, RuntimeError) as e:  # the log stream broke: fall back to polling
        write(f"(log stream ended: {type(e).__name__}; waiting for the job to finish)\n")
    while (s := str(status(c, job_id).status.value)) not in TERMINAL:
        time.sleep(poll_s)
    return s
