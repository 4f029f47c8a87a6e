"""ResNet-50 and ResNeXt-50 32x4d, 1-D: the stage depths, bottleneck widths and cardinality of the papers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hartune.models import create_model
from hartune.models.bottleneck_resnet import Bottleneck1d, BottleneckResNet


def _model(name: str, **kw) -> BottleneckResNet:
    return create_model(name, in_channels=6, num_classes=5, window=100, **kw)


def _grouped_convs(block: Bottleneck1d) -> nn.Conv1d:
    return block.body[1][0]  # the k-tap conv of the bottleneck


@pytest.mark.parametrize("name", ["resnet50", "resnext"])
def test_stage_depths_and_expansion(name: str) -> None:
    model = _model(name)
    depths = [sum(isinstance(m, Bottleneck1d) for m in stage) for stage in model.stages]
    assert depths == [3, 4, 6, 3]
    outs = [stage[-1].body[-1][0].out_channels for stage in model.stages]
    assert outs == [256, 512, 1024, 2048]  # planes 64..512, expansion 4
    assert model.features(torch.randn(2, 100, 6)).shape == (2, 2048)


def test_resnet50_bottleneck_widths() -> None:
    model = _model("resnet50")
    first = [stage[0] for stage in model.stages]
    assert [b.body[0][0].out_channels for b in first] == [64, 128, 256, 512]  # 1x1 reduce = planes
    assert all(_grouped_convs(b).groups == 1 for b in model.modules() if isinstance(b, Bottleneck1d))


def test_resnext_is_32x4d() -> None:
    model = _model("resnext")
    convs = [_grouped_convs(stage[0]) for stage in model.stages]
    assert [c.groups for c in convs] == [32] * 4
    assert [c.in_channels // c.groups for c in convs] == [4, 8, 16, 32]  # 4d at stage 1, doubling
    assert [c.out_channels for c in convs] == [128, 256, 512, 1024]


def test_time_halves_per_stage_after_the_stem() -> None:
    model = _model("resnet50").eval()
    x = model.stem(torch.randn(1, 6, 100))  # stride-2 conv, stride-2 pool: 100 -> 50 -> 25
    lengths = [x.shape[-1]]
    for stage in model.stages:
        x = stage(x)
        lengths.append(x.shape[-1])
    assert lengths == [25, 25, 13, 7, 4]


def test_residual_branches_start_small() -> None:
    model = _model("resnext")
    scales = torch.cat([b.body[-1][1].weight for b in model.modules() if isinstance(b, Bottleneck1d)])
    torch.testing.assert_close(scales, torch.full_like(scales, 0.1))
    he = _model("resnext", branch_bn_init=1.0)
    assert all((b.body[-1][1].weight == 1).all() for b in he.modules() if isinstance(b, Bottleneck1d))
