"""USAD specifics: Table 5 parameter budget, Table 2 ablation variants in the paper's reading and the
earlier one, Eq. 16's input, config validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hartune.augment import feature_channels
from hartune.models import ModelConfigError, count_parameters, create_model
from hartune.models.usad import (
    TABLE5_PARAMETERS,
    EqualSplits,
    RadixAttention,
    SEGate,
    SpatialAttention,
    SplitAttention1d,
    SplitAttentionBlock,
)

WISDM = {"in_channels": 3, "num_classes": 6, "window": 90}
OPPORTUNITY = {"in_channels": 113, "num_classes": 18, "window": 30}  # 17 gestures + Null
EARLIER = {"temporal_form": "se_gate", "spatial_placement": "output"}  # the reading before issue 17
ROWS = [("usad", True, True), ("usad_backbone", False, False), ("usad_spatial", True, False), ("usad_temporal", False, True)]


def kinds(model: nn.Module) -> set[type]:
    return {type(m) for m in model.modules()}


@pytest.mark.parametrize("shape", [WISDM, OPPORTUNITY], ids=["wisdm", "opportunity"])
@pytest.mark.parametrize("features", ["raw", "raw+stats"])
def test_table5_size_is_within_ten_percent(shape: dict, features: str) -> None:
    """Table 5: 3.47e5 parameters on WISDM, 1.09e6 on OPPORTUNITY; ``size: table5`` reaches both."""
    n = count_parameters(create_model("usad", size="table5", input_features=features, **shape))
    target = TABLE5_PARAMETERS[shape["in_channels"]]
    assert abs(n / target - 1) <= 0.10, (n, target)


def test_fixed_size_barely_grows_with_the_input() -> None:
    """The default keeps ``widths`` whatever the input: the gap issue 17 measured (3.37e5 vs 3.55e5)."""
    small, large = (count_parameters(create_model("usad", **s)) for s in (WISDM, OPPORTUNITY))
    assert large / small < 1.1 and large < TABLE5_PARAMETERS[113] / 2


@pytest.mark.parametrize("name, spatial, temporal", ROWS)
def test_paper_rows_hold_only_their_attention(name: str, spatial: bool, temporal: bool) -> None:
    """The paper's reading: temporal attention is the softmax over the splits (Eqs. 21-22), nothing
    else; without it the splits get equal weights; no SE gate in any row."""
    k = kinds(create_model(name, **WISDM))
    assert (RadixAttention in k) == temporal and (EqualSplits in k) == (not temporal)
    assert (SpatialAttention in k) == spatial
    assert SEGate not in k and SplitAttention1d in k  # cardinal grouping is backbone in every row


@pytest.mark.parametrize("name, spatial, temporal", ROWS)
def test_earlier_reading_is_a_config_value(name: str, spatial: bool, temporal: bool) -> None:
    """``temporal_form: se_gate``: split softmax in every row, the switch adds an SE gate."""
    k = kinds(create_model(name, **EARLIER, **WISDM))
    assert RadixAttention in k and EqualSplits not in k
    assert (SEGate in k) == temporal and (SpatialAttention in k) == spatial


def test_earlier_reading_keeps_the_earlier_parameter_count() -> None:
    assert count_parameters(create_model("usad", **EARLIER, **WISDM)) == 336_560  # 3.37e5, as issue 17 measured


def _block(name: str, **kw) -> SplitAttentionBlock:
    model = create_model(name, **kw, **WISDM).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):  # non-trivial statistics, so a wrong layout cannot hide
            m.running_mean.normal_(0.0, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    return next(m for m in model.modules() if isinstance(m, SplitAttentionBlock))


def _splits(splat: SplitAttention1d, x: torch.Tensor) -> torch.Tensor:
    """(B, R, C, T): the splits U before anything weighs them."""
    u = splat.act(splat.bn0(splat.conv(x)))
    return u.view(x.shape[0], splat.radix, splat.channels, -1)


@torch.no_grad()
def test_without_temporal_attention_the_splits_are_averaged() -> None:
    splat = _block("usad_backbone").splat
    x = torch.randn(3, splat.conv.in_channels, 20)
    torch.testing.assert_close(splat(x), _splits(splat, x).mean(dim=1))
    assert not any(isinstance(m, (nn.Conv1d, nn.Linear)) for m in splat.attention.modules())  # no weights


@torch.no_grad()
def test_spatial_attention_acts_on_each_split_before_the_sum() -> None:
    """Paper placement: U_j -> M_s(U_j) ⊙ U_j for each of the K*R splits (its own pooling), then the
    cross-split sum; the earlier placement puts one map on the output V instead."""
    block = _block("usad_spatial")
    splat, sa = block.splat, block.splat.split_spatial
    assert isinstance(sa, SpatialAttention) and isinstance(block.spatial, nn.Identity)
    x = torch.randn(3, splat.conv.in_channels, 20)
    U = _splits(splat, x)  # (B, R, C, T)
    B, R, C, T = U.shape
    G = sa.groups
    g = U.reshape(B, G, C * R // G, T)  # radix-major: the K*R splits are consecutive channel groups
    desc = torch.cat([g.mean(2, keepdim=True), g.amax(2, keepdim=True)], dim=2).reshape(B * G, 2, T)
    weighted = (g * torch.sigmoid(sa.conv(desc)).reshape(B, G, 1, T)).reshape(B, R, C, T)
    torch.testing.assert_close(splat(x), weighted.mean(dim=1))
    earlier = _block("usad_spatial", **EARLIER)
    assert isinstance(earlier.spatial, SpatialAttention) and isinstance(earlier.splat.split_spatial, nn.Identity)


@torch.no_grad()
def test_eq16_input_is_the_window_and_its_own_statistics() -> None:
    """Eq. 16: the stem reads x ⊕ f(x), f computed from each window alone (no other window of the batch,
    nothing fitted: no parameter, no buffer, no label)."""
    model = create_model("usad", input_features="raw+stats", **WISDM).eval()
    assert model.stem[0].in_channels == 5 * WISDM["in_channels"]
    assert not list(model.inputs.parameters()) and not list(model.inputs.buffers())
    x = torch.randn(6, 90, 3) * 3 + 1
    seen = model.inputs(x)
    for i in range(len(x)):
        alone = torch.cat([x[i : i + 1], feature_channels(x[i : i + 1])], dim=2)
        torch.testing.assert_close(seen[i : i + 1], alone)
    other = torch.cat([x[:1], 100 * torch.randn(5, 90, 3)])  # other windows change: window 0's input does not
    torch.testing.assert_close(model.inputs(other)[0], seen[0])


def test_variant_defaults_can_be_overridden() -> None:
    model = create_model("usad_backbone", spatial_attention=True, **WISDM)
    assert any(isinstance(m, SpatialAttention) for m in model.modules())


def test_branch_per_kernel_size() -> None:
    model = create_model("usad", kernel_sizes=[3, 9], **WISDM)
    kernels = {m.conv.kernel_size[0] for m in model.modules() if isinstance(m, SplitAttention1d)}
    assert kernels == {3, 9}


@pytest.mark.parametrize(
    "params, key",
    [({"kernel_sizes": [3, 4]}, "kernel_sizes"), ({"widths": [30]}, "widths"),
     ({"cardinality": 0}, "cardinality"), ({"dropout": 1.5}, "dropout"),
     ({"spatial_kernel_size": 6}, "spatial_kernel_size"), ({"temporal_form": "gate"}, "temporal_form"),
     ({"spatial_placement": "before"}, "spatial_placement"), ({"size": "huge"}, "size"),
     ({"input_features": "stats"}, "input_features")],
)
def test_bad_knobs_name_the_key(params: dict, key: str) -> None:
    with pytest.raises(ModelConfigError, match=key):
        create_model("usad", **params, **WISDM)


def test_identity_replaces_ablated_attention() -> None:
    block = next(m for m in create_model("usad_backbone", **WISDM).modules() if hasattr(m, "spatial"))
    assert isinstance(block.spatial, nn.Identity) and isinstance(block.temporal, nn.Identity)
    assert isinstance(block.splat.split_spatial, nn.Identity)
