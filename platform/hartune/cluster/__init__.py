"""Running specs on a Ray cluster: submission as Ray Jobs (``jobs``)."""

from hartune.cluster.jobs import (
    DEFAULT_ADDRESS,
    PASSED_ENV,
    Submission,
    follow,
    logs,
    plan,
    status,
    stop,
    submit,
)

__all__ = ["DEFAULT_ADDRESS", "PASSED_ENV", "Submission", "follow", "logs", "plan", "status", "stop", "submit"]
