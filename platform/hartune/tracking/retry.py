"""Retries with backoff for the stores hartune writes to: the MLflow tracking store (a server, or the
database under it) and the Optuna storage. The one place that decides what counts as an outage and for
how long it is waited out.

A call that fails for a transient reason (the server refuses the connection, answers 5xx or 429, the
database under it restarts) is retried after 0.5 s, then 1, 2, 4, 8, 8... seconds until the spec's
``tracking.retry_s`` has passed since its first failure; then it raises :class:`TrackingUnavailable`,
whose text is one line naming the store. An error that retrying cannot fix (a bad parameter, a missing
run) is raised at once, unchanged.

Retrying a write is safe where the store is idempotent: MLflow keeps a metric row (key, step, value,
timestamp) once however often it is sent, and tags, params and artifacts overwrite themselves. A
write that committed just before the connection dropped is sent again; for MLflow that is a no-op, for
Optuna's ``create_new_trial`` it could in principle add a trial twice (PostgreSQL commits are atomic,
so this needs the connection to drop between the commit and its acknowledgement).

MLflow's own HTTP retries (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, 7 by default: minutes of waiting
inside one call) are turned off in processes that build a retrying client, unless the environment
sets them: the window here is then the only one, and it is the spec's. Alternatives, if wanted later:
a bounded queue written by a background thread (a trial never waits, but a crash loses the queue), or
MLflow's async logging (``synchronous=False``, whose failures surface only at ``flush``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from hartune.tracking.store import redact

T = TypeVar("T")

DEFAULT_RETRY_S = 120.0  # the spec's tracking.retry_s default: a server restart, a database failover
FIRST_WAIT_S, MAX_WAIT_S = 0.5, 8.0
TRANSIENT_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"}
TRANSIENT_TEXT = (
    "Max retries exceeded",
    "Connection refused",
    "Connection reset",
    "Connection aborted",
    "Remote end closed",
    "server closed the connection",
    "could not connect to server",
    "terminating connection",
    "the database system is",
    "database is locked",
)


class TrackingUnavailable(RuntimeError):
    """A store stayed unreachable for longer than the retry window; ``str()`` is the one line shown."""


def transient(error: BaseException) -> bool:
    """Whether ``error`` is an outage (worth waiting out) rather than a refusal."""
    from mlflow.exceptions import MlflowException

    text = str(error)
    if isinstance(error, MlflowException):
        return error.error_code in TRANSIENT_CODES or any(t in text for t in TRANSIENT_TEXT)
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests

        if isinstance(error, (requests.ConnectionError, requests.Timeout)):
            return True
        if isinstance(error, requests.HTTPError) and error.response is not None:
            return error.response.status_code >= 500 or error.response.status_code == 429
    except ImportError:  # pragma: no cover - requests comes with mlflow
        pass
    try:
        import sqlalchemy.exc

        if isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        from optuna.exceptions import StorageInternalError

        if isinstance(error, StorageInternalError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return any(t in text for t in TRANSIENT_TEXT)


def one_line(error: BaseException) -> str:
    lines = [s.strip() for s in str(error).splitlines() if s.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]


def unavailable(store: str, window_s: float, what: str, error: BaseException) -> TrackingUnavailable:
    return TrackingUnavailable(
        f"{store} did not answer {what} for {window_s:g} s (tracking.retry_s={window_s:g}): {redact(one_line(error))}"
    )


def with_retry(
    call: Callable[[], T], window_s: float, store: str, what: str, sleep: Callable[[float], None] = time.sleep
) -> T:
    """``call()``, retried with backoff while it fails transiently, for at most ``window_s`` seconds."""
    first: float | None = None
    wait = FIRST_WAIT_S
    while True:
        try:
            return call()
        except Exception as e:
            if not transient(e):
                raise
            now = time.monotonic()
            first = now if first is None else first
            if now - first >= window_s:
                raise unavailable(store, window_s, what, e) from None
            sleep(min(wait, max(0.0, window_s - (now - first))) or 0.01)
            wait = min(wait * 2, MAX_WAIT_S)


class RetryingClient:
    """An ``MlflowClient`` whose every method is retried (:func:`with_retry`); ``once`` is the plain
    client, for a write that may fail now and be sent again later (a trial's buffered metrics)."""

    def __init__(self, client: Any, window_s: float) -> None:
        self.once, self.window_s = client, window_s
        self.store = f"tracking server {redact(client.tracking_uri)}"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.once, name)
        if not callable(attr):
            return attr

        def retried(*args: Any, **kwargs: Any) -> Any:
            return with_retry(lambda: attr(*args, **kwargs), self.window_s, self.store, name)

        return retried


def own_the_window() -> None:
    """MLflow's own HTTP retries off (unless the environment sets them), so that one window applies."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
