"""Torch tensors over the prepared (read-only) arrays, without a copy and guarded against writes.

torch has no read-only tensor: ``torch.from_numpy`` of a read-only array warns, and an in-place op on
the tensor writes into the array all the same; in Ray's object store that is the one copy every trial
of the node reads (checked: a worker's ``add_`` showed up in the driver's ``ray.get``). So the recipe's
tensors are ``ReadOnlyTensor``s: a tensor subclass whose in-place ops (``add_``, ``x[i] = v``,
``out=`` it, ``inplace=True``) raise ``ReadOnlyError`` before they run. Every other op runs as on a
plain tensor and returns a plain tensor, except a view of the shared memory (a slice, ``.to`` the CPU),
which stays guarded; ``.numpy()`` gives a read-only array. A batch (``x[idx]``) and ``torch.cat``
(augmentation's ``mix``) are new memory, the trial's own, writable. Only the ops that take a
``ReadOnlyTensor`` pay the check (a few per batch); the model's own ops see plain tensors.

Alternatives, not taken: ``torch.tensor(a)``, a private writable copy per trial (the memory sharing
saves); a plain ``torch.from_numpy`` (shared, unguarded); an inference tensor (its in-place ops raise,
but only after writing: checked with torch 2.13). On a GPU the tensor is copied to the device anyway;
that copy is the trial's own and writable.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from hartune.data.prepare import PreparedData

# in-place by name but writing no data: allowed
_METADATA_ONLY = frozenset({"requires_grad_", "retain_grad", "share_memory_"})


class ReadOnlyError(RuntimeError):
    """An in-place op on a tensor over shared, read-only data."""


def _writes(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    name = getattr(func, "__name__", "")
    target_first = bool(args) and isinstance(args[0], ReadOnlyTensor)
    if target_first and (
        name == "__setitem__"
        or (name.endswith("_") and not name.endswith("__") and name not in _METADATA_ONLY)
    ):
        return True  # x.add_(...), x[i] = v, torch.relu_(x)
    if target_first and (name.startswith("__i") and name.endswith("__") or kwargs.get("inplace") is True):
        return True  # x += 1, F.relu(x, inplace=True)
    out = kwargs.get("out")
    return isinstance(out, ReadOnlyTensor) or (
        isinstance(out, (tuple, list)) and any(isinstance(o, ReadOnlyTensor) for o in out)
    )


class ReadOnlyTensor(torch.Tensor):
    """A tensor over shared memory whose in-place ops raise (see the module docstring)."""

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if _writes(func, args, kwargs):
            raise ReadOnlyError(
                f"{getattr(func, '__name__', func)} would write into shared, read-only data "
                "(the prepared arrays of hartune.data.prepare); work on a copy (x.clone())"
            )
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **kwargs)
            if isinstance(out, np.ndarray):  # .numpy(): the same memory
                out.flags.writeable = False
                return out
            shared = {a.untyped_storage().data_ptr() for a in args if isinstance(a, ReadOnlyTensor)}
            if isinstance(out, (tuple, list)):  # split, chunk, unbind: views
                return type(out)(_guarded(o, shared) for o in out)
            return _guarded(out, shared)


def _guarded(out: Any, shared: set[int]) -> Any:
    """``out`` as a ``ReadOnlyTensor`` if it is a view of the shared memory (a slice, ``.to`` the CPU)."""
    if (
        isinstance(out, torch.Tensor)
        and not isinstance(out, ReadOnlyTensor)
        and out.untyped_storage().data_ptr() in shared
    ):
        return out.as_subclass(ReadOnlyTensor)
    return out


def shared_tensor(a: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``a`` as a tensor on ``device``: on the CPU the same memory, as a ``ReadOnlyTensor``."""
    with warnings.catch_warnings():
        # "The given NumPy array is not writable ...": the subclass is what keeps it unwritten
        warnings.filterwarnings(
            "ignore", message="The given NumPy array is not writable", category=UserWarning
        )
        t = torch.from_numpy(a).as_subclass(ReadOnlyTensor)
    return t.to(device)


def split_tensors(
    data: PreparedData, device: torch.device | str = "cpu"
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(windows (N, T, C), labels (N,)) of the train, val and test splits, as ``shared_tensor``s."""
    return [
        (shared_tensor(p.x, device), shared_tensor(p.y, device)) for p in (data.train, data.val, data.test)
    ]
