"""Deployment figures of a trained classifier (USAD §4.4, Table 5): size, memory, CPU latency, budget."""

from hartune.deploy.profile import ProfileError, profile_model, realtime_budget_ms

__all__ = ["ProfileError", "profile_model", "realtime_budget_ms"]
