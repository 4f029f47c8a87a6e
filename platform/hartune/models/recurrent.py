"""Recurrent baselines: a two-layer LSTM (seed 003) and a CNN-LSTM with self-attention (seed 002).

Both read the window as a sequence over time, ``batch_first``: the LSTM's sequence axis is T.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, register_model


# -- two-layer LSTM (seed 003) -------------------------------------------------------------------
class LSTMConfig(ModelConfig):
    hidden: PositiveInt = 64  # the seed leaves N_hidden_units unset; 64 is its source tutorial's value
    num_layers: PositiveInt = 2
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # the seed has none


class LSTMClassifier(HARClassifier):
    """Seed 003 (GeeksforGeeks "Human Activity Recognition - Using Deep Learning Model", TF1 code):
    per-step Linear(C -> H) + ReLU, two stacked LSTM(H), the last step's output, Linear(H -> K).

    Departures: the seed adds an L2 penalty of 0.0015 on every variable; that belongs to the
    optimiser (``weight_decay``), not to the model. PyTorch's LSTM has two bias vectors per gate
    where TF's ``BasicLSTMCell`` has one; ``forget_bias=1.0`` is not replicated.
    """

    def __init__(self, in_channels: int, num_classes: int, cfg: LSTMConfig) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(in_channels, cfg.hidden), nn.ReLU())
        self.lstm = nn.LSTM(cfg.hidden, cfg.hidden, cfg.num_layers, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, H): the top LSTM's output at the last time step."""
        h, _ = self.lstm(self.embed(x))  # (B, T, H)
        return h[:, -1]


@register_model("lstm", LSTMConfig)
def build_lstm(in_channels: int, num_classes: int, window: int, cfg: LSTMConfig) -> LSTMClassifier:
    """Seed 003: Linear+ReLU, two-layer LSTM(64), last step, linear."""
    return LSTMClassifier(in_channels, num_classes, cfg)


# -- CNN-LSTM with self-attention (seed 002) -----------------------------------------------------
class CNNLSTMAttnConfig(ModelConfig):
    conv_channels: PositiveInt = 16
    kernel_size: PositiveInt = 3
    hidden: PositiveInt = 64  # every LSTM and dense layer of the reference is 64 wide
    dropout: float = Field(0.2, ge=0.0, lt=1.0)


class DotSelfAttention(nn.Module):
    """Keras ``layers.Attention()([h, h])``: softmax(h hᵀ) h, unscaled dot-product, no weights."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        scores = h @ h.transpose(1, 2)  # (B, T, T)
        return F.softmax(scores, dim=-1) @ h  # (B, T, H)


class LSTMAttention(nn.Module):
    """LSTM over time returning every step, then self-attention over those steps."""

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_features, hidden, batch_first=True)
        self.attn = DotSelfAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F)
        h, _ = self.lstm(x)  # (B, T, H)
        return self.attn(h)


def _dense_branch(hidden: int, dropout: float) -> nn.Sequential:
    """Two x [Dense(H) + ReLU -> BN -> Dropout], one of the reference's two parallel branches."""
    layers: list[nn.Module] = []
    for _ in range(2):
        layers += [nn.Linear(hidden, hidden), nn.ReLU(), nn.BatchNorm1d(hidden), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class CNNLSTMAttention(HARClassifier):
    """Seed 002: Khatun et al., "Deep CNN-LSTM With Self-Attention Model for Human Activity
    Recognition Using Wearable Sensor", IEEE JTEHM 2022; layout from the seed's notebook
    (``Parth-Jain-2002/Deep-CNN-LSTM-for-HAR:IoT_MHealth.ipynb``, Keras):

        Conv1D(16, k=3, same) -> BN -> Dropout(0.2)                        (B, T, 16)
        LSTM(64, all steps) -> self-attention, twice                        (B, T, 64)
        LSTM(64), last step                                           z     (B, 64)
        two parallel branches of 2 x [Dense 64 ReLU, BN, Dropout]      b1, b2
        concat [z, b1, b2] -> Dense(64) + ReLU                        features (B, 64)
        head: Dense(K)                                                logits   (B, K)

    Departures: the softmax is left to the loss; the notebook's query and value are the same LSTM
    called twice on the same input, i.e. one output, so we run each LSTM once.
    """

    def __init__(self, in_channels: int, num_classes: int, cfg: CNNLSTMAttnConfig) -> None:
        super().__init__()
        H = cfg.hidden
        self.conv = nn.Sequential(
            nn.Conv1d(in_channels, cfg.conv_channels, cfg.kernel_size, padding="same"),
            nn.BatchNorm1d(cfg.conv_channels),
            nn.Dropout(cfg.dropout),
        )
        self.attn_lstms = nn.Sequential(LSTMAttention(cfg.conv_channels, H), LSTMAttention(H, H))
        self.lstm = nn.LSTM(H, H, batch_first=True)
        self.branches = nn.ModuleList([_dense_branch(H, cfg.dropout), _dense_branch(H, cfg.dropout)])
        self.fc = nn.Sequential(nn.Linear(3 * H, H), nn.ReLU())
        self.head = nn.Linear(H, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, H): the Dense(64) before the output layer."""
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T, 16)
        h, _ = self.lstm(self.attn_lstms(x))  # (B, T, H)
        z = h[:, -1]  # (B, H)
        return self.fc(torch.cat([z, *(b(z) for b in self.branches)], dim=1))  # (B, H)


@register_model("cnn_lstm_attn", CNNLSTMAttnConfig)
def build_cnn_lstm_attn(
    in_channels: int, num_classes: int, window: int, cfg: CNNLSTMAttnConfig
) -> CNNLSTMAttention:
    """Seed 002: conv, two LSTM+self-attention layers, LSTM, two dense branches, dense, output."""
    return CNNLSTMAttention(in_channels, num_classes, cfg)
