"""``SplitAttention1d`` equals a naive per-cardinal-group loop (ResNeSt ``tests/test_radix_major.py``).

The naive version slices the module's own weights group by group and follows the paper's math
(USAD Eqs. 20-21, ResNeSt §3): U_{k,r}, Û_k = Σ_r U_{k,r}, s_k = mean_t Û_k, a_k = softmax_r(G_k(s_k))
(sigmoid if R = 1), V_k = Σ_r a_{k,r} U_{k,r}, output = concat_k V_k. Unlike the ResNeSt test, the
weights and BN statistics are random, so a wrong channel layout cannot hide behind equal weights.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hartune.models.usad import SplitAttention1d


def _bn_eval(bn: nn.BatchNorm1d, v: torch.Tensor, sl: slice) -> torch.Tensor:
    """Eval-mode BN on channels ``sl`` of ``bn``, applied to v (B, n, T)."""
    scale = bn.weight[sl] / torch.sqrt(bn.running_var[sl] + bn.eps)
    return (v - bn.running_mean[sl, None]) * scale[:, None] + bn.bias[sl, None]


def naive_split_attention(m: SplitAttention1d, x: torch.Tensor) -> torch.Tensor:
    """Loop over cardinal groups k and radix r; conv group g = r*K + k (radix-major)."""
    B, ra = x.shape[0], m.attention  # RadixAttention: fc1, bn1, fc2
    K, R = ra.fc1.groups, m.conv.groups // ra.fc1.groups
    cg = m.conv.out_channels // (K * R)  # channels of one split of one cardinal group, C/K
    in_g = x.shape[1] // (K * R)
    inter_g = ra.fc1.out_channels // K
    out = []
    for k in range(K):
        U = []
        for r in range(R):
            g = r * K + k
            o = slice(g * cg, (g + 1) * cg)
            u = F.conv1d(x[:, g * in_g:(g + 1) * in_g], m.conv.weight[o],
                         stride=m.conv.stride, padding=m.conv.padding)  # (B, C/K, T')
            U.append(F.relu(_bn_eval(m.bn0, u, o)))
        s = sum(U).mean(dim=-1)  # (B, C/K): GAP of Û_k
        h = slice(k * inter_g, (k + 1) * inter_g)
        z = F.linear(s, ra.fc1.weight[h, :, 0], ra.fc1.bias[h])  # (B, inter/K)
        z = F.relu(_bn_eval(ra.bn1, z[..., None], h)[..., 0])
        a = slice(k * R * cg, (k + 1) * R * cg)  # fc2 group k emits R*C/K logits, [r][c]
        logits = F.linear(z, ra.fc2.weight[a, :, 0], ra.fc2.bias[a]).view(B, R, cg)
        att = torch.softmax(logits, dim=1) if R > 1 else torch.sigmoid(logits)
        out.append(sum(att[:, r, :, None] * U[r] for r in range(R)))  # V_k (B, C/K, T')
    return torch.cat(out, dim=1)  # (B, C, T')


def _randomize_bn(m: nn.Module) -> None:
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm1d):
            bn.running_mean.normal_(0.0, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.normal_(1.0, 0.5)
            bn.bias.data.normal_(0.0, 0.5)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("cardinality", [1, 2, 4])
@pytest.mark.parametrize("radix", [1, 2, 4])
@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("channels", [16, 64])
@pytest.mark.parametrize("batch", [2, 4])
@torch.no_grad()
def test_matches_naive_per_group_loop(
    batch: int, channels: int, kernel_size: int, radix: int, cardinality: int, stride: int
) -> None:
    if channels % (cardinality * radix):
        pytest.skip("channels must be divisible by K*R")
    m = SplitAttention1d(channels, channels, kernel_size, stride, cardinality, radix).eval()
    _randomize_bn(m)
    x = torch.randn(batch, channels, 23)  # odd length exercises the strided padding too
    y = m(x)
    assert y.shape == (batch, channels, (23 - 1) // stride + 1)
    torch.testing.assert_close(y, naive_split_attention(m, x), atol=1e-5, rtol=1e-4)
