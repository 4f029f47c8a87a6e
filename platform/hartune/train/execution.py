"""How the recipe executes its steps on the device: numeric precision (``train.precision``) and graph
compilation (``train.compile``). ``hartune.train.recipe`` owns the loop; this module owns the mechanics.

The USAD paper is silent on both (§4 names the training machine, two RTX 4090 with PyTorch 2.5.1, and no
precision), so the defaults are its implicit ones, fp32 and eager; the alternatives are config values:

- ``fp32``: no autocast; every op in float32.
- ``bf16``: the forward pass and the loss run under ``torch.autocast(device, torch.bfloat16)``: matrix
  products and convolutions in bfloat16, reductions, softmax and the losses in float32 (autocast's op
  lists); weights, gradients and the optimiser state stay float32. bfloat16 keeps float32's exponent
  range, so there is no loss scaling.
- ``fp16``: the same with float16, plus a ``torch.amp.GradScaler`` (dynamic loss scaling): the loss is
  multiplied by the scale before backward, gradients are unscaled before clipping, a step whose
  gradients overflowed is skipped and the scale halved. The scaler's state rides in the checkpoint.

Evaluation runs under the same autocast; its logits are cast back to float32 before softmax and loss.

On CPU (torch 2.13) bf16 autocast runs every registered torch model; on the project's Xeon (AMX-BF16) a
USAD step (batch 64, 1 thread) took 0.16 CPU s against 0.19 in fp32. fp16 autocast also runs on CPU,
GradScaler included, but torch has no fast float16 kernels there for these models' convolutions and
recurrences: the same USAD step took 6.6 CPU s (35x fp32; deepconvlstm's first step 22 s against 0.4
in bf16), so a CPU run in fp16 is refused rather than left to crawl. ``check`` gives one ``ConfigError``
line, at validation where ``train.device`` says ``cpu`` and at setup (before the first step) where
``auto`` resolves to the CPU, for each setting that cannot run: fp16 on CPU; bf16 on a CUDA GPU without
bfloat16 (before Ampere: ``torch.cuda.is_bf16_supported()`` is false); ``train.compile`` on CPU
without a C++ compiler (inductor builds C++ kernels) or on CUDA without Triton. The scikit-learn trainer ignores both, as it
ignores the optimiser settings (``hartune.train.sklearn``).

``train.compile: true`` wraps the model in ``torch.compile`` (inductor, default mode, ``dynamic=None``:
the epoch's last, shorter batch compiles one more graph, once). The compiled module runs the training
forward pass only; evaluation, ``auxiliary_loss``, checkpoints and the returned model use the eager
module, which holds the very same parameters, so state dicts keep their keys and a checkpoint of a
compiled run resumes eagerly and the other way round. Not offered: ``mode="max-autotune"`` (minutes of
kernel autotuning in every trial) and compiling evaluation as well (a third graph, for eval mode at
batch 1024, for a pass that is a small share of an epoch).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
from torch import nn

from hartune.registry import ConfigError

Precision = Literal["fp32", "bf16", "fp16"]
DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(name: str) -> torch.device:
    """``train.device``: ``auto`` is the GPU where there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# after "train.precision='fp16' on CPU: " (a trial's device) or "precision='fp16' with device='cpu': "
FP16_ON_CPU = (
    "torch has no fast float16 CPU kernels for these models (a USAD step 35x slower than fp32); "
    "accepted on CPU: fp32, bf16"
)


def check(precision: str, compile_model: bool, device: torch.device) -> None:
    """One ``ConfigError`` line where this precision or compile setting cannot run on ``device``."""
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError(f"train.precision='fp16' on CPU: {FP16_ON_CPU}")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise ConfigError(
            f"train.precision='bf16': the GPU {name!r} has no bfloat16; accepted here: fp32, fp16"
        )
    if not compile_model:
        return
    if device.type == "cpu" and not any(
        shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++")
    ):
        raise ConfigError(
            "train.compile=true: torch.compile on CPU needs a C++ compiler (g++, clang++ or $CXX), "
            "none found; accepted here: train.compile=false"
        )
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            raise ConfigError(
                "train.compile=true: torch.compile on CUDA needs Triton, which is not installed; "
                "accepted here: train.compile=false"
            )


class Execution:
    """Autocast, loss scaling and the compiled forward pass of one run on one device."""

    def __init__(self, precision: str, compile_model: bool, device: torch.device) -> None:
        """The recipe calls ``check`` first; this builds what the settings need."""
        self.device, self.dtype, self.compile = device, DTYPES[precision], compile_model
        # GradScaler(enabled=False) is a no-op pass-through, so fp32 and bf16 take the same code path
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def forward_module(self, model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """What the training step calls: ``torch.compile(model)`` or the eager model itself (same weights)."""
        return torch.compile(model) if self.compile else model

    def step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        params: Iterator[nn.Parameter],
        grad_clip: float | None,
    ) -> None:
        """Backward and one optimiser step; with fp16 the loss is scaled and gradients unscaled before
        clipping, and a step with inf/NaN gradients is skipped (``GradScaler``)."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if grad_clip:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(params, grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state:  # empty for a disabled scaler, absent in checkpoints written before this module
            self.scaler.load_state_dict(state)
