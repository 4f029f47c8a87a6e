"""Annotated types shared by typed configs (``models/``, ``augment/``): a leaf that imports pydantic only.

A knob's constraint lives in its type, so every config that has such a knob checks it the same way; the
key path of a failure comes from pydantic's location (``usad.kernel_sizes[1]=4: must be odd ...``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, PositiveInt


def _odd(v: int) -> int:
    if v % 2 == 0:
        raise ValueError("must be odd (same padding keeps the length)")
    return v


# A convolution kernel size with 'same' padding: k // 2 on each side keeps the length only for odd k.
# For a tuple of them write ``tuple[OddInt, ...]``: the failing entry is then named by its index.
OddInt = Annotated[PositiveInt, AfterValidator(_odd)]
