"""Gated Res2Net and MAG-Res2Net: the tanh gates between splits, the pass-through split, ECA."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hartune.models import create_model
from hartune.models.gated_res2net import (
    AddECA,
    GatedRes2Net,
    GatedRes2NetBottleneck,
    GatedSplits,
    MultiplyECA,
    eca_kernel_size,
)


def _model(name: str, **kw) -> GatedRes2Net:
    return create_model(name, in_channels=3, num_classes=6, window=64, **kw)


@pytest.mark.parametrize("name", ["gated_res2net", "mag_res2net"])
def test_gates_lie_in_minus_one_one_and_read_the_block_input(name: str) -> None:
    model = _model(name).eval()
    gates: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: gates.append(out)) for m in model.modules() if isinstance(m, nn.Tanh)]
    with torch.no_grad():
        model(10 * torch.randn(4, 64, 3))  # large inputs push the gates towards saturation
    for h in hooks:
        h.remove()
    n_blocks = sum(isinstance(m, GatedRes2NetBottleneck) for m in model.modules())
    assert len(gates) == 2 * n_blocks  # scale 4: splits 3 and 4 are gated
    stacked = torch.cat([g.flatten() for g in gates])
    assert stacked.min() > -1 and stacked.max() < 1 and stacked.min() < 0 < stacked.max()
    splits = next(m for m in model.modules() if isinstance(m, GatedSplits))
    gate_conv = splits.gates[0][0]
    planes = splits.convs[0][0].in_channels * 4
    assert gate_conv.in_channels == planes + 2 * planes // 4  # [u, x_i, y_{i-1}]


def test_first_split_passes_through_and_gates_modulate_the_carry() -> None:
    torch.manual_seed(0)
    splits = GatedSplits(planes=16, scales=4).eval()
    u = torch.randn(2, 16, 10)
    with torch.no_grad():
        out = splits(u)
        torch.testing.assert_close(out[:, :4], u[:, :4])  # y_1 = x_1
        for g in splits.gates:
            nn.init.zeros_(g[0].weight)  # gate 0: no carry into splits 3 and 4
        closed = splits(u)
    y2 = closed[:, 4:8]
    torch.testing.assert_close(closed[:, 8:12], splits.convs[1](u[:, 8:12]))  # y_3 = K_3(x_3)
    assert not torch.allclose(out[:, 8:12], closed[:, 8:12])
    torch.testing.assert_close(y2, out[:, 4:8])  # y_2 has no gate


def test_variants_follow_their_code() -> None:
    gated, mag = _model("gated_res2net"), _model("mag_res2net")
    blocks = lambda m: [sum(isinstance(b, GatedRes2NetBottleneck) for b in s.modules()) for s in m.stages[1:]]
    assert blocks(gated) == [3, 2, 1, 1] and blocks(mag) == [2, 3, 4, 1]
    assert not any(isinstance(m, (AddECA, MultiplyECA)) for m in gated.modules())
    assert sum(isinstance(m, AddECA) for m in mag.modules()) == 10  # one per bottleneck
    drops = [m.p for m in mag.modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.4, 0.4, 0.4]  # after the stem and stages 1-2
    assert gated.features(torch.randn(2, 64, 3)).shape == (2, 1024)


def test_eca_kernel_and_modes() -> None:
    assert [eca_kernel_size(c) for c in (64, 128, 256, 512, 1024)] == [3, 5, 5, 5, 5]
    x = torch.randn(2, 128, 9)
    add, mul = AddECA(128), MultiplyECA(128)
    offset = add(x) - x
    assert ((offset > 0) & (offset < 1)).all()  # the code adds σ(·) in (0, 1)
    assert torch.allclose(offset[..., :1].expand_as(offset), offset)  # one weight per channel
    ratio = mul(x) / x
    assert ((ratio > 0) & (ratio < 1)).all()
