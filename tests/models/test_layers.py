"""Shared blocks: ``conv_length`` predicts PyTorch's own output lengths, floor and ceil mode."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from hartune.knobs import OddInt
from hartune.models.base import ModelConfig
from hartune.models.layers import conv_length
from hartune.registry import ConfigError, validate_config


@pytest.mark.parametrize("ceil", [False, True])
def test_conv_length_matches_pytorch(ceil: bool) -> None:
    for length, k, s in itertools.product(range(1, 24), (1, 2, 3, 5, 6), (1, 2, 3)):
        pad = min(k // 2, 1)
        expected = conv_length(length, k, s, pad, ceil=ceil)
        try:
            got = nn.MaxPool1d(k, s, padding=pad, ceil_mode=ceil)(torch.zeros(1, 1, length)).shape[-1]
        except RuntimeError:  # PyTorch refuses an empty output
            got = 0
        assert max(expected, 0) == got, (length, k, s, pad, ceil)
    assert conv_length(90, 6, 2, 2) == nn.Conv1d(1, 1, 6, 2, 2)(torch.zeros(1, 1, 90)).shape[-1] == 45


def test_odd_kernel_type() -> None:
    class Cfg(ModelConfig):
        k: OddInt = 3

    assert validate_config(Cfg, {"k": 5}).k == 5
    for bad in (4, 0, -3):
        with pytest.raises(ConfigError, match="k="):
            validate_config(Cfg, {"k": bad})
