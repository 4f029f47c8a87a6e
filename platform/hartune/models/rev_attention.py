"""Rev-Attention: a CNN whose deeper blocks guide the shallower ones through "reverse" (top-down)
transformer attention (USAD [24]).

Reference:
    USAD [24]: R. Pramanik, R. Sikdar, R. Sarkar, "Transformer-based deep reverse attention network
        for multi-sensory human activity recognition", Engineering Applications of Artificial
        Intelligence 122 (2023) 106150. Code: ``rishavpramanik/RevTransformerAttentionHAR``
        (TensorFlow/Keras, ``utils/model.py``: ``model_design``).

Rebuilt from the public code. For input (B, T, C) (the code flattens a (T, C, 1) image per step):

    noise     Gaussian noise, std 0.1 (training only)
    block 1   Conv(C->16, k3) -> ReLU -> BN -> Conv(16->32, k5) -> ReLU -> BN -> GaussianDropout(0.1)   f1 (B, T1, 32)
    block 2   Conv(32->48, k7) ... Conv(48->64, k9) ...                                               f2 (B, T2, 64)
    block 3   Conv(64->96, k11) ... Conv(96->128, k13) ...                                            f3 (B, T3, 128)
    reverse   r2 = ConvTranspose(32, k15) ReLU (LSTM_32(f2)) -> back to T1;  a1 = MHA_{7 x 2}(f1 + r2)
    attention r3 = ConvTranspose(64, k23) ReLU (LSTM_32(f3)) -> back to T2;  a2 = MHA_{10 x 2}(f2 + r3)
    pool      [max_t(a1 + f1); max_t(a2 + f2); max_t f3]                  features (B, 224)
    head      Linear                                                      logits   (B, K)

MHA_{h x d} is Keras' ``MultiHeadAttention(num_heads=h, key_dim=d)``: query, key and value are
projected to h heads of d dimensions each (much narrower than the input, which PyTorch's
``nn.MultiheadAttention`` cannot express), then projected back (``KeyDimAttention``).

The code puts an activity regulariser L1L2(0.01, 0.01) on both attention outputs: Keras adds
0.01 (|a|_1 + |a|_2^2), summed over steps and features and divided by the batch size, to the
loss. That is this model's ``auxiliary_loss``; it is taken from the same forward pass that gave
the logits (cached during training), so the noise layers draw once per step as in Keras.
``activity_l1 = activity_l2 = 0`` turns it off.

Departures:
    * ``padding='same'`` by default. The code's valid convs shorten the window by 42 steps (needs
      T >= 43) and its valid transposed convs restore exactly T1 and T2; in 'same' mode every
      length stays T (the transposed convs pad by (k-1)/2). ``padding='valid'`` is the code.
    * PyTorch's LSTM has two bias vectors per gate where Keras has one (+4 x 32 per LSTM).
    * Parameters: 0.374M on WISDM shapes against 4.33e5 in USAD Table 5 (-14%), 0.382M on
      OPPORTUNITY shapes against 3.80e5 (+0.5%).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, ModelConfigError, register_model

# (filters, kernel) of the six convs, two per block (the code's values).
CONVS = ((16, 3), (32, 5), (48, 7), (64, 9), (96, 11), (128, 13))


class RevAttentionConfig(ModelConfig):
    padding: Literal["same", "valid"] = "same"  # "valid" is the code (windows >= 43)
    lstm_hidden: PositiveInt = 32
    heads: tuple[PositiveInt, PositiveInt] = (7, 10)  # of the two reverse attentions
    key_dim: PositiveInt = 2
    input_noise: float = Field(0.1, ge=0.0)  # std of the Gaussian input noise, training only
    dropout: float = Field(0.1, ge=0.0, lt=1.0)  # GaussianDropout rate after each block
    activity_l1: float = Field(0.01, ge=0.0)
    activity_l2: float = Field(0.01, ge=0.0)


class GaussianNoise(nn.Module):
    """x + N(0, std²) in training, x in eval (Keras ``GaussianNoise``)."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training and self.std > 0 else x


class GaussianDropout(nn.Module):
    """x · N(1, rate / (1 - rate)) in training, x in eval (Keras ``GaussianDropout``)."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.std = (rate / (1 - rate)) ** 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (1 + self.std * torch.randn_like(x)) if self.training and self.std > 0 else x


class KeyDimAttention(nn.Module):
    """Keras ``MultiHeadAttention(num_heads=h, key_dim=d)`` as self-attention on (B, T, E):
    softmax(Q Kᵀ / sqrt d) V per head, Q, K, V = x W_{q,k,v} with W: E -> h*d, output W_o: h*d -> E."""

    def __init__(self, dim: int, heads: int, key_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * heads * key_dim)
        self.out = nn.Linear(heads * key_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, E)
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, -1).permute(2, 0, 3, 1, 4)  # 3 x (B, h, T, d)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, h, T, d)
        return self.out(y.transpose(1, 2).reshape(B, T, -1))  # (B, T, E)


class ConvBlock(nn.Sequential):
    """Two x [Conv -> ReLU -> BN], then GaussianDropout, on (B, C, T); Keras' order (ReLU before BN)."""

    def __init__(self, c_in: int, convs: tuple[tuple[int, int], ...], pad: bool, dropout: float) -> None:
        layers: list[nn.Module] = []
        for filters, k in convs:
            layers += [nn.Conv1d(c_in, filters, k, padding=k // 2 if pad else 0), nn.ReLU(), nn.BatchNorm1d(filters)]
            c_in = filters
        super().__init__(*layers, GaussianDropout(dropout))


class ReverseAttention(nn.Module):
    """a = MHA(shallow + up(LSTM(deep))): the deeper map, read by an LSTM and transposed-convolved
    back to the shallow map's length and width, guides self-attention over the shallow map."""

    def __init__(self, deep: int, shallow: int, span: int, cfg: RevAttentionConfig, heads: int) -> None:
        super().__init__()
        pad = (span - 1) // 2 if cfg.padding == "same" else 0
        self.lstm = nn.LSTM(deep, cfg.lstm_hidden, batch_first=True)
        self.up = nn.Sequential(nn.ConvTranspose1d(cfg.lstm_hidden, shallow, span, padding=pad), nn.ReLU())
        self.attention = KeyDimAttention(shallow, heads, cfg.key_dim)

    def forward(self, shallow: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:  # (B, C_s, T_s), (B, C_d, T_d)
        h, _ = self.lstm(deep.transpose(1, 2))  # (B, T_d, H)
        guide = self.up(h.transpose(1, 2))  # (B, C_s, T_s)
        return self.attention((shallow + guide).transpose(1, 2))  # (B, T_s, C_s)


class RevAttention(HARClassifier):
    """Three conv blocks, two top-down reverse attentions, max-pooled over time, linear."""

    def __init__(self, in_channels: int, num_classes: int, window: int, cfg: RevAttentionConfig) -> None:
        super().__init__()
        pad = cfg.padding == "same"
        shrink = sum(k - 1 for _, k in CONVS)
        if not pad and window <= shrink:
            raise ModelConfigError(
                f"rev_attention: window={window} is too short for the valid convs (they drop {shrink} "
                "steps); use padding='same' or a window >= 43"
            )
        self.noise = GaussianNoise(cfg.input_noise)
        self.block1 = ConvBlock(in_channels, CONVS[0:2], pad, cfg.dropout)
        self.block2 = ConvBlock(CONVS[1][0], CONVS[2:4], pad, cfg.dropout)
        self.block3 = ConvBlock(CONVS[3][0], CONVS[4:6], pad, cfg.dropout)
        # The transposed convs undo exactly the length block 2 (k7 + k9) and block 3 (k11 + k13) remove.
        self.reverse1 = ReverseAttention(CONVS[3][0], CONVS[1][0], 15, cfg, cfg.heads[0])
        self.reverse2 = ReverseAttention(CONVS[5][0], CONVS[3][0], 23, cfg, cfg.heads[1])
        self.l1, self.l2 = cfg.activity_l1, cfg.activity_l2
        self._activity: tuple[torch.Tensor, torch.Tensor] | None = None  # (input, penalty) of the last train step
        self.head = nn.Linear(CONVS[1][0] + CONVS[3][0] + CONVS[5][0], num_classes)

    def __getstate__(self) -> dict:
        """Pickling and deep copies leave out the cached penalty (a tensor inside an autograd graph)."""
        return {**super().__getstate__(), "_activity": None}

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, T, C) -> features (B, 224) and the two attention outputs [(B, T1, 32), (B, T2, 64)]."""
        f1 = self.block1(self.noise(x).transpose(1, 2))  # (B, 32, T1)
        f2 = self.block2(f1)  # (B, 64, T2)
        f3 = self.block3(f2)  # (B, 128, T3)
        a1, a2 = self.reverse1(f1, f2), self.reverse2(f2, f3)  # (B, T1, 32), (B, T2, 64)
        pooled = [
            (a1 + f1.transpose(1, 2)).amax(dim=1), (a2 + f2.transpose(1, 2)).amax(dim=1), f3.amax(dim=-1)
        ]
        return torch.cat(pooled, dim=1), [a1, a2]

    def activity_penalty(self, attentions: list[torch.Tensor]) -> torch.Tensor:
        """Keras' L1L2 activity regulariser: Σ (l1 |a| + l2 a²) over steps and features, / batch."""
        batch = attentions[0].shape[0]
        return sum(self.l1 * a.abs().sum() + self.l2 * a.square().sum() for a in attentions) / batch

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, 224): time-maxima of the two attended maps and of block 3."""
        feats, attentions = self.parts(x)
        if self.training and (self.l1 or self.l2):
            self._activity = (x, self.activity_penalty(attentions))
        return feats

    def auxiliary_loss(self, x: torch.Tensor) -> torch.Tensor | None:
        """The attention outputs' activity penalty, from the training forward pass on this ``x``
        (recomputed if there was none, e.g. in eval)."""
        if not (self.l1 or self.l2):
            return None
        cached, self._activity = self._activity, None
        if cached is not None and cached[0] is x:
            return cached[1]
        return self.activity_penalty(self.parts(x)[1])


@register_model("rev_attention", RevAttentionConfig)
def build_rev_attention(
    in_channels: int, num_classes: int, window: int, cfg: RevAttentionConfig
) -> RevAttention:
    """Rev-Attention (Pramanik et al. 2023): six convs k3..k13, two LSTM-guided key-dim-2 attentions."""
    return RevAttention(in_channels, num_classes, window, cfg)
