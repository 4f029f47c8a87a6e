"""HS-CNN: the hierarchical-split block's channel bookkeeping, checked against a by-hand walk.

The description (issue 6, Tang et al. 2022): split C channels into s groups; the first passes
through; each next group goes through conv-BN-ReLU; half of its output joins the next group and
half is kept; the last group's output is kept whole; then a 1x1 fusion back to C.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hartune.models import ModelConfigError, create_model
from hartune.models.hs_cnn import HSCNN, HierarchicalSplit, HSBlock


def _conv(seq: nn.Sequential) -> nn.Conv2d:
    return seq[0]


@pytest.mark.parametrize("channels, split, width", [(64, 4, 28), (128, 4, 28), (60, 3, 10), (32, 2, 8)])
def test_conv_widths_follow_the_split(channels: int, split: int, width: int) -> None:
    block = HSBlock(channels, split, width)
    convs = [_conv(c) for c in block.split.convs]
    g, half = channels // split, width // 2
    assert len(convs) == split - 1  # the first group has no conv
    assert [c.in_channels for c in convs] == [g] + [g + half] * (split - 2)  # later groups carry w/2
    assert all(c.out_channels == width for c in convs)
    fuse = _conv(block.fuse)
    assert fuse.in_channels == g + (split - 2) * half + width  # kept: x_1, the halves, the last y
    assert (fuse.out_channels, fuse.kernel_size) == (channels, (1, 1))


def test_reference_numbers_64_4_28() -> None:
    """The reference's own example: 16 + 14 + 14 + 28 = 72 channels into the 1x1 fusion."""
    assert HierarchicalSplit(64, 4, 28).out_channels == 72


@pytest.mark.parametrize("split", [2, 3, 4])
def test_split_output_is_the_by_hand_walk(split: int) -> None:
    """Recompute the block with its own convs, group by group, and compare every channel."""
    C, w = 12 * split, 10
    hs = HierarchicalSplit(C, split, w).eval()
    x = torch.randn(2, C, 9, 3)  # (B, C, T, S)
    groups = x.chunk(split, dim=1)
    expected, carry = [groups[0]], None  # the first group passes through unchanged
    for i, conv in enumerate(hs.convs, start=1):
        inp = groups[i] if carry is None else torch.cat([groups[i], carry], dim=1)
        y = conv(inp)
        if i < split - 1:
            expected.append(y[:, : w // 2])  # kept half
            carry = y[:, w // 2 :]  # joins the next group
        else:
            expected.append(y)  # the last output is kept whole
    with torch.no_grad():
        out = hs(x)
        torch.testing.assert_close(out, torch.cat(expected, dim=1))
    torch.testing.assert_close(out[:, : C // split], groups[0])  # identity group at the front


def test_carry_only_reaches_later_groups() -> None:
    """Changing group 3 of 4 changes neither the identity group nor group 2's kept half."""
    hs = HierarchicalSplit(64, 4, 28).eval()
    x = torch.randn(2, 64, 9, 3)
    x2 = x.clone()
    x2[:, 32:48] += 1.0  # group 3
    with torch.no_grad():
        a, b = hs(x), hs(x2)
    torch.testing.assert_close(a[:, :30], b[:, :30])  # x_1 (16) and y_2's kept half (14)
    assert not torch.allclose(a[:, 30:], b[:, 30:])


def test_three_stages_of_64_128_256() -> None:
    model = create_model("hs_cnn", in_channels=40, num_classes=12, window=171)
    assert isinstance(model, HSCNN)
    blocks = [m for m in model.modules() if isinstance(m, HSBlock)]
    assert [_conv(b.fuse).out_channels for b in blocks] == [64, 128, 256]
    assert [_conv(b.fuse).in_channels for b in blocks] == [c // 4 + 14 + 14 + 28 for c in (64, 128, 256)]
    # the convs slide over time only: sensors stay apart until the head
    assert all(m.kernel_size[1] == 1 for m in model.modules() if isinstance(m, nn.Conv2d))
    assert model.features(torch.randn(2, 171, 40)).shape == (2, 256 * 6 * 40)  # 171 -> 57 -> 19 -> 6


def test_reference_padding_needs_a_longer_window() -> None:
    with pytest.raises(ModelConfigError, match="window=30"):
        create_model("hs_cnn", in_channels=3, num_classes=4, window=30, stage_padding=1)
    model = create_model("hs_cnn", in_channels=40, num_classes=12, window=171, stage_padding=1)
    assert model.features(torch.randn(1, 171, 40)).shape == (1, 256 * 5 * 40)  # the reference's 51200


@pytest.mark.parametrize("params, key", [({"width": 27}, "width"), ({"channels": [64, 130]}, "channels"),
                                         ({"split": 1}, "split")])
def test_bad_knobs_name_the_key(params: dict, key: str) -> None:
    with pytest.raises(ModelConfigError, match=key):
        create_model("hs_cnn", in_channels=3, num_classes=4, window=64, **params)
