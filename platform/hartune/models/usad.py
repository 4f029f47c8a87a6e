"""USAD: a multi-branch split-attention network with spatial and temporal attention (USAD §3.2).

References:
    USAD, Xiao et al. 2025 (arXiv 2507.02827), §3.2, Fig. 2, Table 2 (ablation), Table 5 (params).
    ResNeSt, Zhang et al. 2020: ``zhanghang1989/ResNeSt:resnest/torch/models/splat.py``
        (``SplAtConv2d`` and ``rSoftMax``), ported here to 1-D as ``SplitAttention1d``.
    CBAM, Woo et al. 2018: the spatial attention module (avg+max pool over channels, conv, sigmoid).

No code was released with USAD, so this is a reconstruction. Layout, for input (B, T, C_in):

    inputs      the window, or the window ⊕ its statistics (Eq. 16, ``input_features``)   (B, T, C)
    stem        ConvBNAct(C -> stem_width, k=5)                                     (B, W0, T)
    stage i     ConvBNAct(W_{i-1} -> W_i, k=3, stride)  temporal downsampling       (B, W_i, T_i)
                then ``blocks_per_stage`` x MultiBranchUnit(W_i):
                  one SplitAttentionBlock per kernel size (3, 5, 7), in parallel:
                    x -> grouped conv: K*R splits U_j
                      -> spatial attention on each split                      (paper, "splits")
                      -> Û_k = Σ_r U_{k,r} (Eq. 20), temporal attention a = softmax_r G(GAP Û) (Eqs. 21-22)
                         or, without it, equal weights 1/R
                      -> V_k = Σ_r a_{k,r} U_{k,r}, concat over k
                      -> 1x1 conv + BN -> (+ x) -> ReLU
                  concat the branches -> 3-tap fusion conv + BN -> (+ unit input) -> ReLU
    pool        mean over time                                        features  (B, W_last)
    head        Dropout -> Linear                                     logits    (B, num_classes)

What the paper states, and how it is built (the defaults are the paper's reading):
    * Temporal attention (``temporal_form: split_softmax``). §3.2 describes it as global pooling per
      cardinal group (Eq. 22) followed by "two consecutive fully connected layers, each with a number of
      groups equal to the cardinality, to predict the attention distribution of each split module":
      the weights over the splits of Eq. 21. With it, the splits of each cardinal group are weighted by
      the softmax over the radix (sigmoid for R = 1), exactly ResNeSt's split attention. Without it
      ("Backbone Only", "Spatial Attention"), the splits are combined with equal weights 1/R; the
      cardinal groups (the grouped conv, Eq. 20) are kept, as Table 2's "multi-branch structure with
      cardinality and cardinality grouping" requires.
      ``temporal_form: se_gate`` is hartune's earlier reading (up to commit 6e9d4e2), kept as an
      alternative: the softmax over splits is always part of the backbone and the switch adds or removes
      an SE-style per-cardinal-group channel gate (``SEGate``) after the split attention, a module the
      paper does not describe.
    * Spatial attention placement (``spatial_placement: splits``). The paper's "Method Flow" applies it
      first, to the splits, then sums them ("Next, a cross-split summation is performed"). Each of the
      K*R splits (C/K channels) gets its own map from its own avg+max pooling, through one shared conv.
      ``spatial_placement: output`` is the earlier placement, on the split-attention output V.
    * Eq. 16 (``input_features: raw+stats``): the classifier reads "the raw signal and the feature
      vector" concatenated: the window and Eq. 3's features, 5 channels per input channel. The features
      are computed inside the model from each window alone (``StatisticalFeatures``), on the window as the
      model receives it (z-scored with the training split's per-channel statistics): per-window mean and
      std are then an affine map of the raw ones, and skewness and z-scores are unchanged by it. Off by
      default; Table 2's "Data Augmentation" row (the §3.1 framework it belongs to) turns it on.
    * Size (``size``). Table 5 gives 3.47e5 parameters on WISDM (3 channels) and 1.09e6 on OPPORTUNITY
      (113). ``fixed`` keeps ``widths`` whatever the input (3.2e5 on WISDM shapes, 3.4e5 on OPPORTUNITY's:
      the network barely grows with the input). ``table5`` scales every stage width by
      sqrt(P(C) / P(3)), where P is Table 5's count interpolated linearly in the input channel count C
      (``table5_parameters``): the parameter count, quadratic in the widths, then follows Table 5 through
      both of its points. Measured for ``usad``: 3.21e5 on WISDM shapes (-7.6 %), 1.02e6 on OPPORTUNITY's
      (-6.8 %) and 1.09e6 with Eq. 16's input (-0.2 %) (``tests/models/test_usad.py``, README
      "Parameters"). The stem stays ``stem_width`` wide, so Eq. 16's five-fold input adds only the
      stem's share.

Choices where the paper is silent (each also noted where it is made):
    * "Spatial" means the sensor-channel axis: the map is pooled over channels and is a function
      of time (B, 1, T), as in CBAM with the 2-D plane replaced by the time axis.
    * The paper says a "3x1 convolution is used for feature fusion". We use a dense 3-tap conv to
      fuse the concatenated branches, with BN and a residual from the unit's input.
    * Each branch ends with a 1x1 conv + BN (ResNeSt bottleneck's conv3) so that cardinal groups,
      kept apart by the grouped split conv, mix before the residual add.
    * K=2, R=2: the paper gives no values. R=2 is ResNeSt's default; K=2 keeps the cardinality
      grouping non-trivial.
    * Depth and widths: the paper gives none. Two stages of widths (64, 96), one multi-branch
      unit each, measure 320,528 parameters (3.21e5, ratio 0.92 to Table 5) with ``count_parameters``
      on WISDM shapes (window 90, 3 channels, 6 classes) in the paper's reading; 336,560 with
      ``temporal_form: se_gate, spatial_placement: output`` (the earlier model, identical to it).
    * Attention FC widths use ResNeSt's rule ``max(C_in * R // reduction, 32)``, rounded up to a
      multiple of K; the SE gate uses ``max(C // reduction, 32)``.

Training with batch size 1 fails (BN over the pooled descriptors, as in ResNeSt); eval works.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt, ValidationInfo, field_validator
from torch import nn

from hartune.knobs import OddInt
from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import ConvBNAct, GlobalAvgPool, StatisticalFeatures

# Table 5: USAD's parameter count per input channel count (WISDM: 3 channels, OPPORTUNITY: 113).
TABLE5_PARAMETERS: dict[int, float] = {3: 3.47e5, 113: 1.09e6}


class USADConfig(ModelConfig):
    # One parallel residual branch per kernel size (§3.2 / Fig. 2: 3, 5 and 7 taps). Odd only, so
    # 'same' padding keeps every branch at the same length for the concatenation.
    kernel_sizes: Annotated[tuple[OddInt, ...], Field(min_length=1)] = (3, 5, 7)
    cardinality: PositiveInt = 2  # K; not given in the paper (see module docstring)
    radix: PositiveInt = 2  # R; ResNeSt's default
    stem_width: PositiveInt = 32
    # One stage per entry; (64, 96) lands at 3.21e5 params on WISDM, near Table 5's 3.47e5.
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
    # The paper's reading by default (module docstring); the earlier model is se_gate + output.
    temporal_form: Literal["split_softmax", "se_gate"] = "split_softmax"
    spatial_placement: Literal["splits", "output"] = "splits"
    size: Literal["fixed", "table5"] = "fixed"  # table5: widths grow with the input channels
    input_features: Literal["raw", "raw+stats"] = "raw"  # raw+stats: Eq. 16

    @field_validator("widths")
    @classmethod
    def _widths_divisible(cls, v: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        groups = info.data.get("cardinality", 1) * info.data.get("radix", 1)
        if any(w % groups for w in v):
            raise ValueError(f"every width must be divisible by cardinality*radix={groups}, got {v}")
        return v


def table5_parameters(in_channels: int) -> float:
    """Table 5's USAD parameter count, interpolated linearly in the input channels (3 -> 3.47e5,
    113 -> 1.09e6), extrapolated beyond."""
    (c0, p0), (c1, p1) = sorted(TABLE5_PARAMETERS.items())
    return p0 + (in_channels - c0) * (p1 - p0) / (c1 - c0)


def stage_widths(cfg: USADConfig, in_channels: int) -> tuple[int, ...]:
    """The stage widths for ``in_channels`` input channels: ``widths`` as given (``size: fixed``) or
    scaled by sqrt(P(C) / P(3)) (``size: table5``), rounded to a multiple of K*R."""
    if cfg.size == "fixed":
        return cfg.widths
    scale = math.sqrt(table5_parameters(in_channels) / table5_parameters(min(TABLE5_PARAMETERS)))
    g = cfg.cardinality * cfg.radix
    return tuple(max(g, round(w * scale / g) * g) for w in cfg.widths)


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


class RadixAttention(nn.Module):
    """The weights of the splits, USAD Eqs. (21)-(22) ("temporal attention" in the paper's reading).

    Per cardinal group k: s_k = mean_t Σ_r U_{k,r} (Eqs. 20, 22), a_k = softmax_r(G(s_k)) (sigmoid when
    R = 1, Eq. 21). G is two 1x1 convs with groups=K and BN+ReLU between: "two consecutive fully
    connected layers, each with a number of groups equal to the cardinality".
    """

    def __init__(
        self, in_channels: int, channels: int, cardinality: int, radix: int, reduction: int, min_inter_channels: int
    ) -> None:
        super().__init__()
        self.radix = radix
        inter = _inter_channels(in_channels * radix, reduction, min_inter_channels, cardinality)
        self.fc1 = nn.Conv1d(channels, inter, 1, groups=cardinality)
        self.bn1 = nn.BatchNorm1d(inter)
        self.fc2 = nn.Conv1d(inter, channels * radix, 1, groups=cardinality)
        self.act = nn.ReLU()
        # Composition instead of a branch in forward: softmax over radix, or a sigmoid gate for R=1.
        self.rsoftmax = RadixSoftmax(radix, cardinality) if radix > 1 else nn.Sigmoid()

    def forward(self, splits: torch.Tensor) -> torch.Tensor:  # (B, R, C, T)
        B, R, C, _ = splits.shape
        s = splits.sum(dim=1).mean(dim=-1, keepdim=True)  # (B, C, 1): GAP of Û, Eqs. (20), (22)
        logits = self.fc2(self.act(self.bn1(self.fc1(s))))  # (B, R*C, 1)
        return self.rsoftmax(logits).view(B, R, C, 1)  # (B, R, C, 1), Eq. (21)


class EqualSplits(nn.Module):
    """Weights 1/R for every split: the splits of a cardinal group averaged, no attention (Table 2's
    rows without temporal attention). No parameters."""

    def __init__(self, radix: int) -> None:
        super().__init__()
        self.radix = radix

    def forward(self, splits: torch.Tensor) -> torch.Tensor:  # (B, R, C, T)
        return splits.new_full((1, self.radix, 1, 1), 1.0 / self.radix)  # broadcast over B, C, T


class SplitAttention1d(nn.Module):
    """Split-attention conv (ResNeSt ``SplAtConv2d``), 1-D: USAD Eqs. (20)-(21).

    One grouped conv (groups = K*R) makes all R*K splits U at once, radix-major (channel
    ``r*C + k*C/K + c``). ``split_spatial`` (default: none) acts on the splits before they are
    combined; ``attention`` (default: ``RadixAttention``, ResNeSt's) gives their weights a_{k,r}; the
    output is V_k = Σ_r a_{k,r} U_{k,r}, concatenated along channels.
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
        attention: nn.Module | None = None,
        split_spatial: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.channels, self.radix = channels, radix
        self.conv = nn.Conv1d(
            in_channels, channels * radix, kernel_size, stride=stride, padding=kernel_size // 2,
            groups=cardinality * radix, bias=False,
        )
        self.bn0 = nn.BatchNorm1d(channels * radix)
        self.act = nn.ReLU()
        self.split_spatial = split_spatial if split_spatial is not None else nn.Identity()
        self.attention = attention if attention is not None else RadixAttention(
            in_channels, channels, cardinality, radix, reduction, min_inter_channels
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T)
        u = self.split_spatial(self.act(self.bn0(self.conv(x))))  # (B, R*C, T'), radix-major splits
        splits = u.view(u.shape[0], self.radix, self.channels, -1)  # (B, R, C, T'), splits[:, r] = U_r
        return (self.attention(splits) * splits).sum(dim=1)  # (B, C, T')


class SpatialAttention(nn.Module):
    """CBAM spatial attention over time: M_s = σ(conv([avg_c(F); max_c(F)])), F' = M_s ⊙ F.

    With ``groups`` = G, the C channels are G consecutive groups (the K*R splits of a split conv),
    each pooled on its own and given its own map by the one shared conv.
    """

    def __init__(self, kernel_size: int = 7, groups: int = 1) -> None:
        super().__init__()
        self.groups = groups
        self.conv = nn.Conv1d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        B, C, T = x.shape
        g = x.view(B, self.groups, C // self.groups, T)  # (B, G, C/G, T)
        desc = torch.stack([g.mean(dim=2), g.amax(dim=2)], dim=2)  # (B, G, 2, T)
        m = torch.sigmoid(self.conv(desc.view(B * self.groups, 2, T)))  # (B*G, 1, T)
        return (g * m.view(B, self.groups, 1, T)).view(B, C, T)  # each map broadcast over its group


class SEGate(nn.Module):
    """Per-cardinal-group channel gate: pool over time, two FC with groups=K, sigmoid.

    ``temporal_form: se_gate`` only: hartune's earlier reading of temporal attention (Eq. 22's pooling
    and grouped FCs, as a gate after the split attention). The paper's reading is ``RadixAttention``.
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
        s = x.mean(dim=-1, keepdim=True)  # (B, C, 1)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(s))))  # (B, C, 1) gate


class SplitAttentionBlock(nn.Module):
    """One residual branch: split attention (kernel k) -> spatial -> SE gate -> 1x1 conv+BN, + x.

    The switches pick modules here, once; an ablated attention is an ``nn.Identity()`` or
    ``EqualSplits``, so every Table 2 row and both readings share this one forward.
    """

    def __init__(self, width: int, kernel_size: int, cfg: USADConfig) -> None:
        super().__init__()
        K, R, r, floor = cfg.cardinality, cfg.radix, cfg.reduction, cfg.min_inter_channels
        paper = cfg.temporal_form == "split_softmax"
        # The paper: the split weights ARE temporal attention; se_gate: they are always there. None builds
        # ResNeSt's RadixAttention inside, after the conv (the earlier model's init order, seed for seed).
        weights = None if cfg.temporal_attention or not paper else EqualSplits(R)
        on_splits = cfg.spatial_attention and cfg.spatial_placement == "splits"
        self.splat = SplitAttention1d(
            width, width, kernel_size, cardinality=K, radix=R, reduction=r, min_inter_channels=floor,
            attention=weights,
            split_spatial=SpatialAttention(cfg.spatial_kernel_size, groups=K * R) if on_splits else None,
        )
        on_output = cfg.spatial_attention and cfg.spatial_placement == "output"
        self.spatial = SpatialAttention(cfg.spatial_kernel_size) if on_output else nn.Identity()
        self.temporal = SEGate(width, K, r, floor) if cfg.temporal_attention and not paper else nn.Identity()
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
        stats = cfg.input_features == "raw+stats"
        self.inputs = StatisticalFeatures() if stats else nn.Identity()  # Eq. 16, (B, T, 5C)
        self.stem = ConvBNAct(in_channels * (5 if stats else 1), cfg.stem_width, 5)
        stages, prev = [], cfg.stem_width
        for width in stage_widths(cfg, in_channels):
            units = [MultiBranchUnit(width, cfg) for _ in range(cfg.blocks_per_stage)]
            stages.append(nn.Sequential(ConvBNAct(prev, width, 3, stride=cfg.stride), *units))
            prev = width
        self.stages = nn.Sequential(*stages)
        self.pool = GlobalAvgPool()
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(prev, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, W_last): time-pooled output of the last stage."""
        x = self.stages(self.stem(self.inputs(x).transpose(1, 2)))  # (B, W, T')
        return self.pool(x)  # (B, W)


@register_model("usad", USADConfig, spatial_attention=True, temporal_attention=True)
@register_model("usad_backbone", USADConfig, spatial_attention=False, temporal_attention=False)
@register_model("usad_spatial", USADConfig, spatial_attention=True, temporal_attention=False)
@register_model("usad_temporal", USADConfig, spatial_attention=False, temporal_attention=True)
def build_usad(in_channels: int, num_classes: int, window: int, cfg: USADConfig) -> USAD:
    """USAD (§3.2); the four names are Table 2's rows "Spatial and Temporal Attention",
    "Backbone Only", "Spatial Attention" and "Temporal Attention"."""
    return USAD(in_channels, num_classes, cfg)
