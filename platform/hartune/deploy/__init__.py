"""Deployment figures of a trained classifier (USAD §4.4, Table 5): size, memory, CPU latency, budget."""

from hartune.deploy.profile import (
    ProfileError,
    cpu_latency_ms,
    median_latency_ms,
    profile_estimator,
    profile_model,
    realtime_budget_ms,
)

__all__ = [
    "ProfileError", "cpu_latency_ms", "median_latency_ms", "profile_estimator", "profile_model",
    "realtime_budget_ms",
]
