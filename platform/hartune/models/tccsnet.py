"""TCCSNet: a temporal branch and a channel branch, each convolution + self-attention (USAD [16]).

Reference:
    USAD [16]: E. Essa, I. R. Abdelmaksoud, "Temporal-channel convolution with self-attention
        network for human activity recognition using wearable sensors", Knowledge-Based Systems
        278 (2023) 110867, doi:10.1016/j.knosys.2023.110867.

Reconstructed from the abstract and a partial third-party PyTorch re-implementation of the
single-branch CSNet from the same paper (a public file headed "TODO TCCSNet复现"; we could not
attribute it to a repository); we found neither the paper's text nor the authors' code. The
abstract: "TCCSNet exploits both temporal and inter-channel dependencies through two branches of
convolutions and self-attentions for extracting time-wise and channel-wise information". From
the CSNet re-implementation we take: convs of kernel 3 over time with F and 2F filters (F = 32)
shared across sensors, a sinusoidal position encoding, two pre-norm self-attention blocks (LN ->
MHA (dropout 0.3) -> +x, LN -> FFN(128) with ReLU -> +x), a third conv, and a small dense head
(32 units, ReLU, dropout 0.4). For input (B, T, C):

    temporal  tokens = time steps: Conv(C -> F, k3) -> Conv(F -> 2F, k3), BN+ReLU each    (B, T, 2F)
              + sinusoidal encoding of t, 2 x attention block, Conv(2F -> 2F, k3), mean over t   (B, 2F)
    channel   tokens = sensor channels: each channel's series through Conv(1 -> F, k3) ->
              Conv(F -> 2F, k3) (BN+ReLU, weights shared by all channels), mean over t  (B, C, 2F)
              + sinusoidal encoding of the channel index, 2 x attention block, mean over channels (B, 2F)
    fusion    concat -> Linear(4F -> fc_hidden) -> ReLU            features (B, fc_hidden)
    head      Dropout(0.4) -> Linear                               logits   (B, K)

Choices (the paper's details are unknown to us): 'same' padding, the channel-index encoding (so
that the channel branch knows which sensor a token is; without it the branch is permutation-
equivariant), mean pooling to close each branch, fc_hidden = 64 (the re-implementation uses 32 on
a flattened map), 4 heads (1 when 2F is not divisible by 4).

Parameters (ours; TCCSNet is not in USAD Table 5): 0.17M on WISDM and 0.18M on OPPORTUNITY shapes.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, PositiveInt
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import ConvBNAct


class TCCSNetConfig(ModelConfig):
    filters: PositiveInt = 32  # F; the convs have F and 2F filters
    kernel_size: PositiveInt = 3
    attention_blocks: PositiveInt = 2  # per branch
    heads: PositiveInt = 4
    ffn_hidden: PositiveInt = 128
    attention_dropout: float = Field(0.3, ge=0.0, lt=1.0)
    fc_hidden: PositiveInt = 64
    dropout: float = Field(0.4, ge=0.0, lt=1.0)


def sinusoidal_encoding(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim): sin on even, cos on odd features, wavelengths 2π .. 2π·10000 (Vaswani et al.)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class AttentionBlock(nn.Module):
    """x + MHA(LN x), then + FFN(LN ·) with ReLU after both FFN layers (the re-implementation's form)."""

    def __init__(self, dim: int, heads: int, ffn_hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads if dim % heads == 0 else 1, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_hidden), nn.ReLU(), nn.Linear(ffn_hidden, dim), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, E)
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        return x + self.ffn(self.norm2(x))


class Encoder(nn.Module):
    """Sinusoidal position encoding over the tokens, then attention blocks: (B, N, E) -> (B, N, E)."""

    def __init__(self, dim: int, cfg: TCCSNetConfig) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[
            AttentionBlock(dim, cfg.heads, cfg.ffn_hidden, cfg.attention_dropout) for _ in range(cfg.attention_blocks)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x + sinusoidal_encoding(x.shape[1], x.shape[2], x.device))


def _conv_pair(c_in: int, cfg: TCCSNetConfig) -> nn.Sequential:
    """Conv(c_in -> F) -> Conv(F -> 2F) over time, kernel k, BN + ReLU each; (N, c_in, T) -> (N, 2F, T)."""
    f, k = cfg.filters, cfg.kernel_size
    return nn.Sequential(ConvBNAct(c_in, f, k), ConvBNAct(f, 2 * f, k))


class TemporalBranch(nn.Module):
    """Tokens are time steps: convs over all sensors, self-attention over time, conv, mean over time."""

    def __init__(self, in_channels: int, cfg: TCCSNetConfig) -> None:
        super().__init__()
        d = 2 * cfg.filters
        self.convs = _conv_pair(in_channels, cfg)
        self.encoder = Encoder(d, cfg)
        self.out = ConvBNAct(d, d, cfg.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        h = self.encoder(self.convs(x).transpose(1, 2))  # (B, T, 2F)
        return self.out(h.transpose(1, 2)).mean(dim=-1)  # (B, 2F)


class ChannelBranch(nn.Module):
    """Tokens are sensor channels: a shared per-channel conv embedding, self-attention over channels."""

    def __init__(self, cfg: TCCSNetConfig) -> None:
        super().__init__()
        self.embed = _conv_pair(1, cfg)
        self.encoder = Encoder(2 * cfg.filters, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        B, C, T = x.shape
        tokens = self.embed(x.reshape(B * C, 1, T)).mean(dim=-1).view(B, C, -1)  # (B, C, 2F)
        return self.encoder(tokens).mean(dim=1)  # (B, 2F)


class TCCSNet(HARClassifier):
    """Temporal and channel branches, concatenated, dense, linear."""

    def __init__(self, in_channels: int, num_classes: int, cfg: TCCSNetConfig) -> None:
        super().__init__()
        self.temporal = TemporalBranch(in_channels, cfg)
        self.channel = ChannelBranch(cfg)
        self.fc = nn.Sequential(nn.Linear(4 * cfg.filters, cfg.fc_hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.fc_hidden, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, fc_hidden)."""
        x = x.transpose(1, 2)  # (B, C, T)
        return self.fc(torch.cat([self.temporal(x), self.channel(x)], dim=1))


@register_model("tccsnet", TCCSNetConfig)
def build_tccsnet(in_channels: int, num_classes: int, window: int, cfg: TCCSNetConfig) -> TCCSNet:
    """TCCSNet (Essa & Abdelmaksoud 2023), reconstructed: temporal and channel conv + self-attention branches."""
    return TCCSNet(in_channels, num_classes, cfg)
