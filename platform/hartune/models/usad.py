"""USAD: a multi-branch split-attention network with spatial and temporal attention (USAD §3.2).

References:
    USAD, Xiao et al. 2025 (arXiv 2507.02827), §3.2, Fig. 2, Table 2 (ablation), Table 5 (params).
    ResNeSt, Zhang et al. 2020: ``zhanghang1989/ResNeSt:resnest/torch/models/splat.py``
        (``SplAtConv2d`` and ``rSoftMax``), ported here to 1-D as ``SplitAttention1d``.
    CBAM, Woo et al. 2018: the spatial attention module (avg+max pool over channels, conv, sigmoid).

No code was released with USAD, so this is a reconstruction. Layout, for input (B, T, C_in):

    stem        ConvBNAct(C_in -> stem_width, k=5)                                  (B, W0, T)
    stage i     ConvBNAct(W_{i-1} -> W_i, k=3, stride)  temporal downsampling       (B, W_i, T_i)
                then ``blocks_per_stage`` x MultiBranchUnit(W_i):
                  one SplitAttentionBlock per kernel size (3, 5, 7), in parallel:
                    x -> SplitAttention1d(k) -> SpatialAttention -> TemporalAttention
                      -> 1x1 conv + BN -> (+ x) -> ReLU
                  concat the branches -> 3-tap fusion conv + BN -> (+ unit input) -> ReLU
    pool        mean over time                                        features  (B, W_last)
    head        Dropout -> Linear                                     logits    (B, num_classes)

Choices where the paper is ambiguous (each also noted where it is made):
    * Radix attention (ResNeSt's softmax over splits) is part of the backbone. Table 2's "Backbone
      Only" still has "the multi-branch structure with cardinality and cardinality grouping", and
      the ablation must be able to drop temporal attention alone. The paper's text on temporal
      attention (grouped pooling, two FC layers with groups=K, "to predict the attention
      distribution of each split module") describes the same computation as the radix weights of
      Eq. (21). We therefore build temporal attention as a separate, removable per-cardinal-group
      channel gate (SE-style, groups=K) placed after the split attention.
    * Spatial attention: the paper applies it to the splits before the cross-split sum. We apply it
      to the split-attention output V, so ``SplitAttention1d`` stays an exact ResNeSt port and
      spatial attention can be swapped for ``nn.Identity()``. The order (spatial, then temporal)
      follows the paper's "Method Flow".
    * "Spatial" means the sensor-channel axis: the map is pooled over channels and is a function
      of time (B, 1, T), as in CBAM with the 2-D plane replaced by the time axis.
    * The paper says a "3x1 convolution is used for feature fusion". We use a dense 3-tap conv to
      fuse the concatenated branches, with BN and a residual from the unit's input.
    * Each branch ends with a 1x1 conv + BN (ResNeSt bottleneck's conv3) so that cardinal groups,
      kept apart by the grouped split conv, mix before the residual add.
    * K=2, R=2: the paper gives no values. R=2 is ResNeSt's default; K=2 keeps the cardinality
      grouping (and the groups=K temporal attention) non-trivial.
    * Depth and widths: the paper gives none. Two stages of widths (64, 96), one multi-branch
      unit each, measure 336,560 parameters (3.37e5) with ``count_parameters`` on WISDM shapes
      (window 90, 3 channels, 6 classes), against 3.47e5 in Table 5 (ratio 0.97). One epoch of
      1600 windows (100, 6) at batch 64, forward+backward+Adam, takes ~2.2 s on 2 CPU cores.
    * Attention FC widths use ResNeSt's rule ``max(C_in * R // reduction, 32)``, rounded up to a
      multiple of K; the temporal gate uses ``max(C // reduction, 32)``.

Training with batch size 1 fails (BN over the pooled descriptors, as in ResNeSt); eval works.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt, ValidationInfo, field_validator
from torch import nn

from hartune.knobs import OddInt
from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import ConvBNAct, GlobalAvgPool


class USADConfig(ModelConfig):
    # One parallel residual branch per kernel size (§3.2 / Fig. 2: 3, 5 and 7 taps). Odd only, so
    # 'same' padding keeps every branch at the same length for the concatenation.
    kernel_sizes: Annotated[tuple[OddInt, ...], Field(min_length=1)] = (3, 5, 7)
    cardinality: PositiveInt = 2  # K; not given in the paper (see module docstring)
    radix: PositiveInt = 2  # R; ResNeSt's default
    stem_width: PositiveInt = 32
    # One stage per entry; (64, 96) lands at 3.37e5 params on WISDM, near Table 5's 3.47e5.
    # Each width must be divisible by K*R (the split conv has K*R groups).
    widths: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (64, 96)
    blocks_per_stage: PositiveInt = 1
    # Each stage starts with a strided conv: 2 halves time per stage (100 -> 50 -> 25).
    stride: PositiveInt = 2
    reduction: PositiveInt = 4  # attention bottleneck, ResNeSt's reduction_factor
    min_inter_channels: PositiveInt = 32  # ResNeSt's floor on the attention bottleneck width
    spatial_kernel_size: OddInt = 7  # CBAM's 7x7, as 7 taps
    # The paper gives no dropout for USAD; 0.2 is a mild default for datasets of ~1e3-1e4 windows.
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    spatial_attention: bool = True
    temporal_attention: bool = True

    @field_validator("widths")
    @classmethod
    def _widths_divisible(cls, v: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        groups = info.data.get("cardinality", 1) * info.data.get("radix", 1)
        if any(w % groups for w in v):
            raise ValueError(f"every width must be divisible by cardinality*radix={groups}, got {v}")
        return v


def _inter_channels(channels: int, reduction: int, floor: int, groups: int) -> int:
    """Bottleneck width of an attention MLP: max(channels // reduction, floor), a multiple of groups."""
    inter = max(channels // reduction, floor)
    return -(-inter // groups) * groups


class RadixSoftmax(nn.Module):
    """ResNeSt's ``rSoftMax`` for R > 1: softmax over the radix, per cardinal group and channel.

    fc2 (groups=K) emits logits cardinal-major, ``[k][r][c]``; the splits are radix-major,
    ``[r][k][c]``. The view/transpose re-orders the logits to the splits' layout.
    """

    def __init__(self, radix: int, cardinality: int) -> None:
        super().__init__()
        self.radix, self.cardinality = radix, cardinality

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, R*C, 1)
        B = x.shape[0]
        x = x.view(B, self.cardinality, self.radix, -1).transpose(1, 2)  # (B, R, K, C/K)
        return F.softmax(x, dim=1).reshape(B, -1, 1)  # (B, R*C, 1), radix-major


class SplitAttention1d(nn.Module):
    """Split-attention conv (ResNeSt ``SplAtConv2d``), 1-D: USAD Eqs. (20)-(21).

    One grouped conv (groups = K*R) makes all R*K splits U at once, radix-major (channel
    ``r*C + k*C/K + c``). Per cardinal group k: Û_k = Σ_r U_{k,r} (Eq. 20), s_k = mean_t Û_k,
    a_k = softmax_r(G(s_k)) (sigmoid when R = 1, Eq. 21), V_k = Σ_r a_{k,r} U_{k,r}; the V_k are
    concatenated along channels. G is two 1x1 convs with groups=K and BN+ReLU between.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int,
        stride: int = 1,
        cardinality: int = 1,
        radix: int = 2,
        reduction: int = 4,
        min_inter_channels: int = 32,
    ) -> None:
        super().__init__()
        self.channels, self.radix = channels, radix
        inter = _inter_channels(in_channels * radix, reduction, min_inter_channels, cardinality)
        self.conv = nn.Conv1d(
            in_channels, channels * radix, kernel_size, stride=stride, padding=kernel_size // 2,
            groups=cardinality * radix, bias=False,
        )
        self.bn0 = nn.BatchNorm1d(channels * radix)
        self.fc1 = nn.Conv1d(channels, inter, 1, groups=cardinality)
        self.bn1 = nn.BatchNorm1d(inter)
        self.fc2 = nn.Conv1d(inter, channels * radix, 1, groups=cardinality)
        self.act = nn.ReLU()
        # Composition instead of a branch in forward: softmax over radix, or a sigmoid gate for R=1.
        self.rsoftmax = RadixSoftmax(radix, cardinality) if radix > 1 else nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T)
        u = self.act(self.bn0(self.conv(x)))  # (B, R*C, T'), radix-major splits
        B = u.shape[0]
        splits = u.view(B, self.radix, self.channels, -1)  # (B, R, C, T'), splits[:, r] = U_r
        s = splits.sum(dim=1).mean(dim=-1, keepdim=True)  # (B, C, 1): GAP of Û, Eq. (20)
        logits = self.fc2(self.act(self.bn1(self.fc1(s))))  # (B, R*C, 1)
        a = self.rsoftmax(logits).view(B, self.radix, self.channels, 1)  # (B, R, C, 1), Eq. (21)
        return (a * splits).sum(dim=1)  # (B, C, T')


class SpatialAttention(nn.Module):
    """CBAM spatial attention over time: M_s = σ(conv([avg_c(F); max_c(F)])), F' = M_s ⊙ F."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, T)
        return x * torch.sigmoid(self.conv(desc))  # (B, 1, T) map broadcast over channels


class TemporalAttention(nn.Module):
    """Per-cardinal-group channel gate (USAD Eq. 22): pool over time, two FC with groups=K, sigmoid.

    Pooling is per channel, so each cardinal group's descriptor is pooled on its own; the grouped
    FCs keep the groups' gates independent ("reduce dependencies among groups with different
    cardinal indices"). The paper's wording also matches ResNeSt's radix weights, which already
    live in ``SplitAttention1d``; see the module docstring for why this is a separate gate.
    """

    def __init__(
        self, channels: int, cardinality: int, reduction: int = 4, min_inter_channels: int = 32
    ) -> None:
        super().__init__()
        inter = _inter_channels(channels, reduction, min_inter_channels, cardinality)
        self.fc1 = nn.Conv1d(channels, inter, 1, groups=cardinality)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv1d(inter, channels, 1, groups=cardinality)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        s = x.mean(dim=-1, keepdim=True)  # (B, C, 1), Eq. (22)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(s))))  # (B, C, 1) gate


class SplitAttentionBlock(nn.Module):
    """One residual branch: split attention (kernel k) -> spatial -> temporal -> 1x1 conv+BN, + x.

    An ablated attention is an ``nn.Identity()``, so the four Table 2 rows share this one forward.
    """

    def __init__(self, width: int, kernel_size: int, cfg: USADConfig) -> None:
        super().__init__()
        K, r, floor = cfg.cardinality, cfg.reduction, cfg.min_inter_channels
        self.splat = SplitAttention1d(
            width, width, kernel_size, cardinality=K, radix=cfg.radix, reduction=r, min_inter_channels=floor
        )
        self.spatial = SpatialAttention(cfg.spatial_kernel_size) if cfg.spatial_attention else nn.Identity()
        self.temporal = TemporalAttention(width, K, r, floor) if cfg.temporal_attention else nn.Identity()
        # 1x1 mixes the cardinal groups that the grouped split conv kept apart (ResNeSt's conv3).
        self.proj = nn.Sequential(nn.Conv1d(width, width, 1, bias=False), nn.BatchNorm1d(width))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, W, T)
        y = self.temporal(self.spatial(self.splat(x)))  # (B, W, T)
        return self.act(x + self.proj(y))


class MultiBranchUnit(nn.Module):
    """Parallel branches (one per kernel size) and the cross-branch fusion unit.

    Fusion: concat the branch outputs (B, n*W, T) -> 3-tap conv to W -> BN -> + input -> ReLU.
    """

    def __init__(self, width: int, cfg: USADConfig) -> None:
        super().__init__()
        self.branches = nn.ModuleList(SplitAttentionBlock(width, k, cfg) for k in cfg.kernel_sizes)
        n = len(cfg.kernel_sizes)
        self.fuse = nn.Sequential(
            nn.Conv1d(n * width, width, 3, padding=1, bias=False), nn.BatchNorm1d(width)
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, W, T)
        y = torch.cat([branch(x) for branch in self.branches], dim=1)  # (B, n*W, T)
        return self.act(x + self.fuse(y))  # (B, W, T)


class USAD(HARClassifier):
    """USAD classifier (§3.2, Fig. 2); see the module docstring for the layout and choices."""

    def __init__(self, in_channels: int, num_classes: int, cfg: USADConfig) -> None:
        super().__init__()
        self.stem = ConvBNAct(in_channels, cfg.stem_width, 5)
        stages, prev = [], cfg.stem_width
        for width in cfg.widths:
            units = [MultiBranchUnit(width, cfg) for _ in range(cfg.blocks_per_stage)]
            stages.append(nn.Sequential(ConvBNAct(prev, width, 3, stride=cfg.stride), *units))
            prev = width
        self.stages = nn.Sequential(*stages)
        self.pool = GlobalAvgPool()
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(prev, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, widths[-1]): time-pooled output of the last stage."""
        x = self.stages(self.stem(x.transpose(1, 2)))  # (B, W, T')
        return self.pool(x)  # (B, W)


@register_model("usad", USADConfig, spatial_attention=True, temporal_attention=True)
@register_model("usad_backbone", USADConfig, spatial_attention=False, temporal_attention=False)
@register_model("usad_spatial", USADConfig, spatial_attention=True, temporal_attention=False)
@register_model("usad_temporal", USADConfig, spatial_attention=False, temporal_attention=True)
def build_usad(in_channels: int, num_classes: int, window: int, cfg: USADConfig) -> USAD:
    """USAD (§3.2); the four names are Table 2's rows "Spatial and Temporal Attention",
    "Backbone Only", "Spatial Attention" and "Temporal Attention"."""
    return USAD(in_channels, num_classes, cfg)
