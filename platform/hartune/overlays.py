"""Spec overlays: partial run configs as nested dicts, merged in layers. A leaf module (imports nothing of
hartune), so the spec, the presets, the stage kinds and the trainable can all use it.

A trial's run config is the deep merge ``dataset entry <- spec loss <- stage base (from_stage best) <-
variant overlay <- sampled point``; a sampled point is flat (``{'train.lr': 1e-3}``) and is unflattened
before it is merged.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any


TAGS = ("name", "kind")  # the keys that pick a config class: a changed one replaces its mapping


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` wins; nested mappings merge. A changed ``name`` (model, loss, dataset) or ``kind``
    (split) replaces the mapping: the knobs of another class do not carry over."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            if any(t in v and v[t] != out[k].get(t) for t in TAGS):
                out[k] = copy.deepcopy(dict(v))
            else:
                out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def unflatten(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{'train.lr': 1e-3}`` -> ``{'train': {'lr': 1e-3}}``."""
    out: dict[str, Any] = {}
    for key, v in params.items():
        node = out
        *heads, last = key.split(".")
        for h in heads:
            node = node.setdefault(h, {})
        node[last] = v
    return out


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'train': {'lr': 1e-3}}`` -> ``{'train.lr': 1e-3}`` (the inverse of :func:`unflatten`)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def unique(overlays: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The overlays without repeats (by content), in first-seen order."""
    seen: dict[str, dict[str, Any]] = {}
    for o in overlays:
        seen.setdefault(json.dumps(o, sort_keys=True, default=str), o)
    return list(seen.values())
