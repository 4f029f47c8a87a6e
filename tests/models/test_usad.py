"""USAD specifics: Table 5 parameter budget, Table 2 ablation variants, config validation."""

from __future__ import annotations

import pytest
from torch import nn

from hartune.models import ModelConfigError, count_parameters, create_model
from hartune.models.usad import SpatialAttention, SplitAttention1d, TemporalAttention

WISDM = dict(in_channels=3, num_classes=6, window=90)
TABLE5_PARAMS = 3.47e5  # USAD on WISDM, Table 5


def test_param_count_near_table5() -> None:
    n = count_parameters(create_model("usad", **WISDM))
    assert TABLE5_PARAMS / 2 <= n <= TABLE5_PARAMS * 2, n


@pytest.mark.parametrize(
    "name, spatial, temporal",
    [("usad", True, True), ("usad_backbone", False, False),
     ("usad_spatial", True, False), ("usad_temporal", False, True)],
)
def test_ablation_variants_hold_only_their_attention(name: str, spatial: bool, temporal: bool) -> None:
    model = create_model(name, **WISDM)
    kinds = {type(m) for m in model.modules()}
    assert (SpatialAttention in kinds) == spatial
    assert (TemporalAttention in kinds) == temporal
    assert SplitAttention1d in kinds  # the radix/cardinal split attention is backbone in every row


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
     ({"spatial_kernel_size": 6}, "spatial_kernel_size")],
)
def test_bad_knobs_name_the_key(params: dict, key: str) -> None:
    with pytest.raises(ModelConfigError, match=key):
        create_model("usad", **params, **WISDM)


def test_identity_replaces_ablated_attention() -> None:
    block = next(m for m in create_model("usad_backbone", **WISDM).modules() if hasattr(m, "spatial"))
    assert isinstance(block.spatial, nn.Identity) and isinstance(block.temporal, nn.Identity)
