"""MLflow tracking: the run tree, per-trial logging, the driver-side status callback."""

from hartune.tracking.store import check_reachable, git_commit, redact, require_store, resolve_uri, ui_command

__all__ = ["check_reachable", "git_commit", "redact", "require_store", "resolve_uri", "ui_command"]
