"""The Pareto front of a multi-objective search (e.g. NSGA-II over accuracy and latency)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hartune.tune.outcomes import TrialOutcome, final_value


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    signs = [1.0 if m == "max" else -1.0 for m in modes]
    at_least = all(s * x >= s * y for s, x, y in zip(signs, a, b))
    better = any(s * x > s * y for s, x, y in zip(signs, a, b))
    return at_least and better


def pareto_rows(outcomes: list[TrialOutcome], metrics: Sequence[str], modes: Sequence[str]) -> list[dict[str, Any]]:
    """One row per finished trial: its sampled point, its objectives and whether it is on the front
    (no other finished trial dominates it). Sorted front first, then by the first objective."""
    done = []
    for o in outcomes:
        values = [final_value(o, m) for m in metrics]
        if all(v is not None for v in values):
            done.append((o, values))
    rows = []
    for o, values in done:
        front = not any(dominates(other, values, modes) for _, other in done if other is not values)
        rows.append({"trial_id": o.trial_id, **o.point(), **dict(zip(metrics, values)), "pareto": front})
    sign = 1.0 if modes[0] == "max" else -1.0
    return sorted(rows, key=lambda r: (not r["pareto"], -sign * r[metrics[0]]))
