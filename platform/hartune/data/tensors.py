"""Torch tensors over the prepared (read-only) arrays, without a copy and guarded against writes.

torch has no read-only tensor: ``torch.from_numpy`` of a read-only array warns, and an in-place op on
the tensor writes into the array all the same; in Ray's object store that is the one copy every trial
of the node reads (checked: a worker's ``add_`` showed up in the driver's ``ray.get``). An inference
tensor is the guard torch offers: outside ``torch.inference_mode`` an in-place op on it raises
``RuntimeError``, while reading it works as for any tensor: a batch (``x[idx]``) and ``torch.cat``
(augmentation's ``mix``) are new, normal tensors, and forward passes run on it.

Alternatives, not taken: ``torch.tensor(a)``, a private writable copy per trial (the memory that sharing
saves); a plain ``torch.from_numpy`` (shared, unguarded). On a GPU the tensor is copied to the device
anyway; that copy is the trial's own and writable.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from hartune.data.prepare import PreparedData


def shared_tensor(a: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``a`` as a tensor on ``device``: on the CPU the same memory, as an inference tensor."""
    with warnings.catch_warnings():
        # "The given NumPy array is not writable ...": the inference tensor is what keeps it unwritten
        warnings.filterwarnings(
            "ignore", message="The given NumPy array is not writable", category=UserWarning
        )
        with torch.inference_mode():
            t = torch.from_numpy(a)
    return t.to(device)


def split_tensors(
    data: PreparedData, device: torch.device | str = "cpu"
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(windows (N, T, C), labels (N,)) of the train, val and test splits, as ``shared_tensor``s."""
    return [
        (shared_tensor(p.x, device), shared_tensor(p.y, device)) for p in (data.train, data.val, data.test)
    ]
