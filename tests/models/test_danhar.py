"""DanHAR: channel attention per feature map, temporal attention per step and sensor, the code's layout."""

from __future__ import annotations

import torch

from hartune.models import create_model
from hartune.models.danhar import ChannelAttention2d, DanHAR, DualAttentionBlock, TemporalAttention2d


def test_attention_maps_are_gates_of_the_right_axes() -> None:
    h = torch.randn(3, 128, 20, 4)  # (B, W, T, S)
    ca = ChannelAttention2d(128, 16)(h)
    ta = TemporalAttention2d(7, 1)(h)
    assert ca.shape == (3, 128, 1, 1) and ta.shape == (3, 1, 20, 4)
    for a in (ca, ta):
        assert ((a > 0) & (a < 1)).all()


def test_temporal_attention_slides_along_time_within_each_sensor() -> None:
    ta = TemporalAttention2d(7, 1)
    h = torch.randn(2, 16, 30, 3)
    h2 = h.clone()
    h2[..., 1] = torch.randn(2, 16, 30)  # change sensor 1 only
    a, a2 = ta(h), ta(h2)
    torch.testing.assert_close(a[..., [0, 2]], a2[..., [0, 2]])  # (7, 1): sensors do not mix
    h3 = h.clone()
    h3[:, :, 0] += 5.0  # change step 0: steps beyond 3 (the kernel's half-width) keep their weights
    a3 = ta(h3)
    torch.testing.assert_close(a[:, :, 4:], a3[:, :, 4:])
    assert not torch.allclose(a[:, :, :4], a3[:, :, :4])
    mixed = TemporalAttention2d(7, 7)  # the WISDM script's 7 x 7
    assert not torch.allclose(mixed(h)[..., [0, 2]], mixed(h2)[..., [0, 2]])


def test_blocks_apply_both_attentions_before_the_shortcut() -> None:
    torch.manual_seed(0)
    model = create_model("danhar", in_channels=3, num_classes=6, window=90).eval()
    block: DualAttentionBlock = model.blocks[0]
    x = torch.randn(2, 1, 90, 3)
    with torch.no_grad():
        h = block.body(x)
        h = block.channel_attention(h) * h
        expected = block.temporal_attention(h) * h + block.shortcut(x)
        torch.testing.assert_close(block(x), expected)


def test_the_code_geometry_gives_the_code_head() -> None:
    """With the WISDM script's unpadded stages, a 200 x 3 window flattens to the code's 24192."""
    model: DanHAR = create_model("danhar", in_channels=3, num_classes=6, window=200, stage_padding=0)
    assert model.head[-1].in_features == 24192
    default = create_model("danhar", in_channels=3, num_classes=6, window=90)
    assert default.head[-1].in_features == 384 * 11 * 3  # 90 -> 45 -> 22 -> 11 steps, 3 sensors
